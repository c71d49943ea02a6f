// Merging shard search replies: pure. Search results are a top-k by (ts, id) in the
// search's order (aggregates merge in aggregate.ts).

import type { StoredEvent } from "../protocol/event.ts";
import type { ShardSearchReply } from "../protocol/query-messages.ts";
import type { Cursor, SearchOrder } from "./filter.ts";

/** Compares two events newest first: positive when a sorts after b. */
export function compareNewestFirst(a: { timestampUs: number; id: string }, b: { timestampUs: number; id: string }): number {
  if (a.timestampUs !== b.timestampUs) return b.timestampUs - a.timestampUs;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** The comparator of a search's order: newest first, or its reverse. */
export function compareInOrder(order: SearchOrder): (a: { timestampUs: number; id: string }, b: { timestampUs: number; id: string }) => number {
  return order === "newest" ? compareNewestFirst : (a, b) => compareNewestFirst(b, a);
}

export interface MergedSearch {
  rows: StoredEvent[];
  nextCursor: Cursor | null;
}

/**
 * A shard whose reply was cut by its byte budget may hold rows just after its last
 * one, so the merge keeps only rows at or before the earliest such cut: never a
 * silently skipped row, at worst a shorter page with a cursor.
 */
export function mergeSearch(replies: readonly ShardSearchReply[], limit: number, order: SearchOrder = "newest"): MergedSearch {
  const compare = compareInOrder(order);
  const all = replies.flatMap((reply) => reply.rows).sort(compare);
  let cutoff: StoredEvent | undefined;
  for (const reply of replies) {
    const last = reply.rows[reply.rows.length - 1];
    if (reply.truncated && last && (!cutoff || compare(last, cutoff) < 0)) cutoff = last;
  }
  let rows = cutoff ? all.filter((row) => compare(row, cutoff!) <= 0) : all;
  const cut = rows.length > limit || rows.length < all.length;
  rows = rows.slice(0, limit);
  const more = cut || replies.some((reply) => reply.truncated || reply.rows.length >= limit);
  const last = rows[rows.length - 1];
  return { rows, nextCursor: more && last ? { ts: last.timestampUs, id: last.id } : null };
}
