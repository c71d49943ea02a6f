// UTF-8 sizes of JavaScript strings, without encoding them.

/** Bytes `text[start, end)` takes as UTF-8 (a lone surrogate counts as the three bytes of U+FFFD). */
function utf8Length(text: string, start: number, end: number): number {
  let bytes = 0;
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && index + 1 < end) {
      // A surrogate pair is one code point of four bytes.
      bytes += 4;
      index++;
    } else bytes += 3;
  }
  return bytes;
}

/**
 * Bytes `text[start, end)` takes as UTF-8 when that is over `max`, else 0. Measures only
 * text longer than a third of `max`: one UTF-16 unit never takes more than three bytes.
 */
export function utf8LengthOver(text: string, max: number, start = 0, end = text.length): number {
  if (end - start <= max / 3) return 0;
  const bytes = utf8Length(text, start, end);
  return bytes > max ? bytes : 0;
}
