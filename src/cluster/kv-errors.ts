// What a KV compare-and-swap failure looks like, in one place.

import { describe } from "../actors/supervisor.ts";

/** A create or update on a KV key lost: the key's revision changed since it was read (or it exists). */
export function isCasConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test(describe(error));
}
