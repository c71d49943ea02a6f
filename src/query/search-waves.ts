// Newest-first (or oldest-first) search in waves: a first page of `service:X
// level:ERROR` over the last day needs only the newest rows that match, so a shard
// reads its mem tables and newest segments first, and reads further segments only
// while they could still place a row in the page. Pure planning; shard-query.ts runs
// the waves.

import type { SearchOrder } from "./filter.ts";

/**
 * Segment rows (after the skip index) a wave reads before the page is checked: large
 * enough that a search of a few segments stays one query, small enough that a page
 * the newest rows fill stops after a fraction of a day's segments.
 */
export const SEARCH_WAVE_ROWS = 1_000_000;

/** What the planner needs of a segment: its time bounds and the rows it would read. */
export interface WaveSegment {
  minTs: number;
  maxTs: number;
  rows: number;
}

/**
 * Segment indexes grouped into waves in visiting order: newest first by maxTs (oldest
 * first by minTs), each wave at least `waveRows` rows unless it is the last.
 */
export function planSearchWaves(segments: readonly WaveSegment[], order: SearchOrder, waveRows = SEARCH_WAVE_ROWS): number[][] {
  const visit = segments.map((_, index) => index);
  if (order === "newest") visit.sort((a, b) => segments[b].maxTs - segments[a].maxTs || a - b);
  else visit.sort((a, b) => segments[a].minTs - segments[b].minTs || a - b);
  const waves: number[][] = [];
  let wave: number[] = [];
  let rows = 0;
  for (const index of visit) {
    wave.push(index);
    rows += segments[index].rows;
    if (rows >= waveRows) {
      waves.push(wave);
      wave = [];
      rows = 0;
    }
  }
  if (wave.length > 0) waves.push(wave);
  return waves;
}

/**
 * Whether the waves from `next` on can no longer change a page whose last row (the
 * limit-th, in the search's order) has time `lastTs`: every row they hold is strictly
 * older (newer, oldest first) than it. Equal times may tie-break either way by id, so
 * they go on.
 */
export function pageSettled(segments: readonly WaveSegment[], waves: readonly number[][], next: number, lastTs: number, order: SearchOrder): boolean {
  for (let wave = next; wave < waves.length; wave++) {
    for (const index of waves[wave]) {
      if (order === "newest" ? segments[index].maxTs >= lastTs : segments[index].minTs <= lastTs) return false;
    }
  }
  return true;
}
