// Random numbers of the dataset generator: sfc32 (small, fast, passes PractRand),
// seeded through splitmix32, and weighted choices as one table read. Every name and
// event of a dataset is drawn from these, so a change here changes every dataset.

/** Slots of a weighted-choice table: a choice is one table read of 16 random bits. */
const CHOICE_SLOTS = 1 << 16;

export class Random {
  private a: number;
  private b: number;
  private c: number;
  private d = 1;

  constructor(seed: number) {
    let state = seed >>> 0;
    const split = () => {
      state = (state + 0x9e3779b9) | 0;
      let z = state;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = split();
    this.b = split();
    this.c = split();
    for (let round = 0; round < 12; round++) this.u32();
  }

  /** A uniform unsigned 32-bit integer. */
  u32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** A uniform integer in [0, n), n below 2^32. */
  below(n: number): number {
    return Math.floor((this.u32() / 4294967296) * n);
  }

  float(): number {
    return this.u32() / 4294967296;
  }
}

/** A table of CHOICE_SLOTS indices in proportion to `weights` (every positive weight gets a slot): `table[random >>> 16]` picks. */
export function choiceTable(weights: readonly number[]): Uint32Array {
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const positive = weights.filter((weight) => weight > 0).length;
  if (positive === 0 || positive > CHOICE_SLOTS) throw new Error(`choiceTable: ${positive} positive weights; need 1..${CHOICE_SLOTS}`);
  const spare = CHOICE_SLOTS - positive;
  const slots = weights.map((weight) => (weight > 0 ? 1 + Math.floor((weight / total) * spare) : 0));
  // Hand the slots lost to rounding to the heaviest weights.
  const order = weights.map((_, index) => index).sort((left, right) => weights[right] - weights[left]);
  for (let left = CHOICE_SLOTS - slots.reduce((sum, count) => sum + count, 0), at = 0; left > 0; left--, at++) slots[order[at % positive]]++;
  const table = new Uint32Array(CHOICE_SLOTS);
  let at = 0;
  slots.forEach((count, index) => table.fill(index, at, (at += count)));
  return table;
}

const hex8 = (word: number) => word.toString(16).padStart(8, "0");

/**
 * `length` random lowercase hex characters (for names made once; events use
 * TextScratch.hex). A part word takes the high halves of two draws: the catalog's
 * names depend on exactly this, so datasets already made stay reproducible.
 */
export function randomHex(random: Random, length: number): string {
  let out = "";
  for (let left = length; left >= 8; left -= 8) out += hex8(random.u32());
  if (length % 8 > 0) out += (hex8(random.u32()).slice(0, 4) + hex8(random.u32()).slice(0, 4)).slice(0, length % 8);
  return out;
}
