// Which segments to merge next: pure, so it is tested without files.

import type { SegmentMeta } from "./manifest.ts";
import { COMPACTION_MIN_SEGMENTS, COMPACTION_SEGMENT_ROWS_TARGET } from "./limits.ts";

export interface CompactionPlanOptions {
  minSegments: number;
  rowsTarget: number;
}

export const DEFAULT_COMPACTION_PLAN: CompactionPlanOptions = Object.freeze({
  minSegments: COMPACTION_MIN_SEGMENTS,
  rowsTarget: COMPACTION_SEGMENT_ROWS_TARGET,
});

/**
 * Picks the oldest small segments (by WAL sequence) whose rows add up to at most the
 * target, once there are at least minSegments of them; null when nothing is worth
 * merging. Segments excluded (being read for deletion, say) are skipped.
 */
export function planCompaction(segments: readonly SegmentMeta[], options: CompactionPlanOptions = DEFAULT_COMPACTION_PLAN, excluded: ReadonlySet<string> = new Set()): SegmentMeta[] | null {
  const small = segments.filter((segment) => segment.rows < options.rowsTarget && !excluded.has(segment.file)).sort((a, b) => a.minSeq - b.minSeq);
  if (small.length < options.minSegments) return null;
  const picked: SegmentMeta[] = [];
  let rows = 0;
  for (const segment of small) {
    if (picked.length >= 2 && rows + segment.rows > options.rowsTarget) break;
    picked.push(segment);
    rows += segment.rows;
  }
  return picked.length >= 2 ? picked : null;
}

/**
 * The plan of an idle shard: two small segments are enough, but a segment holding
 * most of the rows picked with it (more than half) is left out: a trickle of ingest
 * would otherwise rewrite a nearly full segment at every idle pass to add a few rows to
 * it. The others are still merged: with the oldest small segment a nearly full one,
 * an idle shard once merged nothing, and bench:query's store kept 300 segments.
 */
export function planIdleCompaction(segments: readonly SegmentMeta[], options: CompactionPlanOptions = DEFAULT_COMPACTION_PLAN, excluded: ReadonlySet<string> = new Set()): SegmentMeta[] | null {
  const left = new Set(excluded);
  for (;;) {
    const picked = planCompaction(segments, { ...options, minSegments: 2 }, left);
    if (!picked) return null;
    const rows = picked.reduce((sum, segment) => sum + segment.rows, 0);
    const dominant = picked.filter((segment) => segment.rows * 2 > rows);
    if (dominant.length === 0) return picked;
    for (const segment of dominant) left.add(segment.file);
  }
}
