// What a word of the message is, in one place for the three readers that must agree:
// the evaluator (JavaScript, for tail and alerts), the planner (SQL run by DuckDB's
// RE2) and the segment skip index (words DuckDB splits out at seal time). Pure.
//
// A bare word or a "phrase" matches the lower-cased message where it stands as whole
// words: `timeout` matches "read timeout after 5s" and "Timeout:", not "timeouts".
// This is how Elasticsearch, Splunk and VictoriaLogs read a word, and it is what lets a
// per-segment bloom filter of words rule a segment out (skip-keys.ts). A trailing `*`
// (`time*`) lets the last word run on.

/** A word character: a Unicode letter, digit or `_` (the same class in RE2 and JavaScript). */
const WORD_CHAR = /^[\p{L}\p{N}_]$/u;
/** The word class as RE2 text, for the SQL side. */
const WORD_CLASS_RE2 = "\\pL\\pN_";
/** Splits lower-cased text into words (RE2 text, for regexp_split_to_array). */
export const WORD_SPLIT_RE2 = `[^${WORD_CLASS_RE2}]+`;

function isWordChar(char: string | undefined): boolean {
  return char !== undefined && WORD_CHAR.test(char);
}

/** The first and last code points of a string (undefined when empty). */
function firstCodePoint(text: string): string | undefined {
  const point = text.codePointAt(0);
  return point === undefined ? undefined : String.fromCodePoint(point);
}

function lastCodePoint(text: string): string | undefined {
  if (text.length === 0) return undefined;
  const low = text.charCodeAt(text.length - 1);
  const start = low >= 0xdc00 && low <= 0xdfff && text.length >= 2 ? text.length - 2 : text.length - 1;
  return firstCodePoint(text.slice(start));
}

/**
 * Whether `lowerNeedle` occurs in `lowerText` as whole words: where the needle starts
 * (ends) with a word character, the text must not have one just before (after) it.
 * With `prefix`, the end may run on. Both arguments are already lower-cased.
 */
export function containsWords(lowerText: string, lowerNeedle: string, prefix = false): boolean {
  if (lowerNeedle === "") return true;
  const checkStart = isWordChar(firstCodePoint(lowerNeedle));
  const checkEnd = !prefix && isWordChar(lastCodePoint(lowerNeedle));
  for (let at = lowerText.indexOf(lowerNeedle); at >= 0; at = lowerText.indexOf(lowerNeedle, at + 1)) {
    if (checkStart && isWordChar(lastCodePoint(lowerText.slice(Math.max(0, at - 2), at)))) continue;
    if (checkEnd && isWordChar(firstCodePoint(lowerText.slice(at + lowerNeedle.length, at + lowerNeedle.length + 2)))) continue;
    return true;
  }
  return false;
}

/** RE2 text matching `text` literally: ASCII punctuation and controls as \x{..}, the rest as is. */
function re2Literal(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.codePointAt(0)!;
    out += code < 0x80 && !/[A-Za-z0-9_ ]/.test(char) ? `\\x{${code.toString(16)}}` : char;
  }
  return out;
}

/** The RE2 pattern containsWords tests, for regexp_matches over lower(message). */
export function wordsPatternRe2(lowerNeedle: string, prefix = false): string {
  const start = isWordChar(firstCodePoint(lowerNeedle)) ? `(^|[^${WORD_CLASS_RE2}])` : "";
  const end = !prefix && isWordChar(lastCodePoint(lowerNeedle)) ? `([^${WORD_CLASS_RE2}]|$)` : "";
  return `${start}${re2Literal(lowerNeedle)}${end}`;
}

/**
 * The words every message matching the needle surely holds whole, as DuckDB splits a
 * lower-cased message at seal time: every run of word characters in the needle, but
 * the last one of a prefix term (it may run on). Only for all-ASCII needles: DuckDB's
 * and JavaScript's lower-casing differ on a few letters (U+0130 "İ" is "i" in one and
 * "i̇" in the other), and a wrong word here would skip a segment that matches.
 */
export function requiredWords(lowerNeedle: string, prefix = false): string[] {
  if (!/^[\x00-\x7f]*$/.test(lowerNeedle)) return [];
  const words = lowerNeedle.split(/[^a-z0-9_]+/);
  const runsOn = prefix && /[a-z0-9_]$/.test(lowerNeedle);
  if (runsOn) words.pop();
  return words.filter((word) => word !== "");
}
