// Skip index files in the version 4 layout (16-byte block entries, no stored seed;
// block i used seed base 0), which readers must still accept: tests write them from an
// index built with seed base 0.

import type { SkipIndex } from "../../src/storage/skip-index.ts";

/** The version 4 file of `index` (built with seed base 0, so its seeds are version 4's). */
export function encodeVersion4(index: SkipIndex): Uint8Array {
  const current = index.encode();
  const blocks = index.blocks.length;
  const v4 = new Uint8Array(current.length - blocks * 4);
  v4.set(current.subarray(0, 24));
  const view = new DataView(v4.buffer);
  view.setUint32(4, 4, true);
  for (let block = 0; block < blocks; block++) v4.set(current.subarray(24 + block * 20, 24 + block * 20 + 16), 24 + block * 16);
  v4.set(current.subarray(24 + blocks * 20, current.length - 4), 24 + blocks * 16);
  view.setUint32(v4.length - 4, Bun.hash.crc32(v4.subarray(0, v4.length - 4)), true);
  return v4;
}
