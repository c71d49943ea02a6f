// KV compare-and-swap, in one place: what its failure looks like, and a write that
// recognizes its own earlier try.

import type { KV } from "@nats-io/kv";
import { describe } from "../actors/supervisor.ts";

/** A create or update on a KV key lost: the key's revision changed since it was read (or it exists). */
export function isCasConflict(error: unknown): boolean {
  return /wrong last sequence|key exists/i.test(describe(error));
}

export interface CasWritten {
  revision: number;
  /** The key already held these bytes: an earlier try, sent before this one, is what landed. */
  earlierTry: boolean;
}

/**
 * Writes `bytes` to `key` if its revision is still `revision` (0: the key must not
 * exist). A write that timed out may have landed all the same, so a retry then loses
 * the compare-and-swap against itself: when the key holds exactly these bytes, that
 * revision is ours. Any other conflict is thrown as it came (isCasConflict tells it).
 */
export async function casWrite(kv: KV, key: string, bytes: Uint8Array, revision: number): Promise<CasWritten> {
  try {
    return { revision: revision === 0 ? await kv.create(key, bytes) : await kv.update(key, bytes, revision), earlierTry: false };
  } catch (error) {
    if (!isCasConflict(error)) throw error;
    const entry = await kv.get(key);
    if (entry?.operation === "PUT" && Buffer.from(entry.value).equals(bytes)) return { revision: entry.revision, earlierTry: true };
    throw error;
  }
}
