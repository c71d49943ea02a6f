// Strings of generated events built as bytes in one buffer (see TextScratch).

import type { Random } from "./random.ts";

const HEX_DIGITS = new TextEncoder().encode("0123456789abcdef");
export const latin1 = new TextDecoder("latin1");
const utf8Decoder = new TextDecoder("utf-8");

/**
 * Builds strings as bytes in one scratch buffer and decodes them once: a flat string
 * made this way costs a fifth of one concatenated from pieces, and encodes faster.
 */
export class TextScratch {
  readonly bytes: Uint8Array;
  length = 0;

  constructor(capacity: number) {
    this.bytes = new Uint8Array(capacity);
  }

  append(part: Uint8Array): void {
    const length = part.length;
    // A native copy costs more than a loop for the short parts most templates have.
    if (length > 24) this.bytes.set(part, this.length);
    else for (let index = 0; index < length; index++) this.bytes[this.length + index] = part[index];
    this.length += length;
  }

  byte(value: number): void {
    this.bytes[this.length++] = value;
  }

  hex(random: Random, count: number): void {
    const bytes = this.bytes;
    let at = this.length;
    for (let left = count; left > 0; ) {
      let word = random.u32();
      for (let nibble = 0; nibble < 8 && left > 0; nibble++, left--) {
        bytes[at++] = HEX_DIGITS[word & 15];
        word >>>= 4;
      }
    }
    this.length = at;
  }

  /** `count` decimal digits, the first not 0 unless it is the only one. */
  digits(random: Random, count: number): void {
    const bytes = this.bytes;
    let at = this.length;
    let word = 0;
    for (let index = 0; index < count; index++) {
      if (index % 9 === 0) word = random.u32();
      const digit = word % 10;
      word = (word - digit) / 10;
      bytes[at++] = 48 + (index === 0 && count > 1 && digit === 0 ? 1 + (word % 9) : digit);
    }
    this.length = at;
  }

  /** A decimal number 0..255. */
  octet(value: number): void {
    if (value >= 100) this.bytes[this.length++] = 48 + Math.floor(value / 100);
    if (value >= 10) this.bytes[this.length++] = 48 + (Math.floor(value / 10) % 10);
    this.bytes[this.length++] = 48 + (value % 10);
  }

  /** The bytes so far as a string, then empties the buffer; `ascii` when they surely are. */
  take(ascii: boolean): string {
    const out = (ascii ? latin1 : utf8Decoder).decode(this.bytes.subarray(0, this.length));
    this.length = 0;
    return out;
  }
}
