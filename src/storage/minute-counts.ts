// Exact row counts per (tenant, service, level) and minute, kept as rows are ingested,
// so "count by service and level over the last 24 h" and histograms answer from
// counters in well under a millisecond instead of scanning (the role Redis plays in
// the seeds). Pure: ShardStore feeds it each flush's rows (RowBuffer.addMinuteCounts)
// and, at a reopen, a GROUP BY of its segments (addSeriesCountsResult).
//
// A series (service, level) of a tenant gets a small integer id. Each minute holds its
// series' counts as two packed arrays sorted by id, and each 10 minutes and each hour
// hold the sum of their minutes the same way, so a 24 h sum reads ~24 hourly arrays and
// at most 5 ten-minute and 9 minute arrays at each end, not 1,440 minutes. Adds wait in
// a short list and are merged in (sorted, summed, then merged with the old arrays)
// before the next read.

import type { DuckDBMaterializedResult } from "@duckdb/node-api";
import { assert } from "../actors/actor.ts";
import { LEVELS } from "../protocol/event.ts";
import { MINUTE_COUNT_ENTRIES_MAX } from "./limits.ts";

/** Microseconds in a minute: minute = floor(ts_us / MINUTE_US). */
export const MINUTE_US = 60_000_000;

/**
 * The minute of a time in µs (a safe integer), floored exactly toward minus infinity,
 * as minuteCountsSql floors it: a double division alone can round a time just below a
 * minute's end up into the next.
 */
export function minuteOf(us: number): number {
  const minute = Math.floor(us / MINUTE_US);
  const rest = us - minute * MINUTE_US;
  return rest < 0 ? minute - 1 : rest >= MINUTE_US ? minute + 1 : minute;
}
/** Minutes per unit of each time level, finest first; each divides the next. */
const UNIT_MINUTES = [1, 10, 60] as const;
/**
 * Adds held before they are merged even without a read. Small, so flushes merge a few
 * at a time: at 16,384 a query's first read of the counters merged up to that many on
 * every shard (sorted three times over), 100-200 ms of a count under live ingest.
 */
const PENDING_ADDS_MAX = 2_048;

/** A series of a tenant, as MinuteCounts.series gives it. */
export interface SeriesRef {
  /** Opaque to callers. */
  readonly counts: TenantCounts;
  readonly id: number;
}

/** Counts of one minute or hour: series ids ascending, and their counts. */
interface Packed {
  ids: Uint32Array;
  counts: Float64Array;
}

/** One time level (minutes, 10 minutes or hours): arrays by unit number, and the unit numbers in order. */
interface TimeLevel {
  byTime: Map<number, Packed>;
  times: number[];
}

interface TenantCounts {
  /** Series id by level digit + service (the level is one character, so the key is unambiguous). */
  seriesIds: Map<string, number>;
  services: string[];
  levels: number[];
  /** By UNIT_MINUTES. */
  units: TimeLevel[];
  /** Adds not merged yet, as parallel lists. */
  pendingMinutes: number[];
  pendingIds: number[];
  pendingCounts: number[];
}

/** First index in ascending `sorted` whose value is >= `value`, searching from `low`. */
function lowerBound(sorted: readonly number[], value: number, low = 0): number {
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle] < value) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** Merges ascending (id, count) additions into a packed array: a new one, ids summed where both hold them. */
function mergePacked(old: Packed | undefined, ids: readonly number[], counts: readonly number[]): Packed {
  if (!old) return { ids: Uint32Array.from(ids), counts: Float64Array.from(counts) };
  const mergedIds = new Uint32Array(old.ids.length + ids.length);
  const mergedCounts = new Float64Array(mergedIds.length);
  let oldIndex = 0;
  let addIndex = 0;
  let length = 0;
  while (oldIndex < old.ids.length || addIndex < ids.length) {
    const oldId = oldIndex < old.ids.length ? old.ids[oldIndex] : Infinity;
    const addId = addIndex < ids.length ? ids[addIndex] : Infinity;
    if (oldId <= addId) {
      mergedIds[length] = oldId;
      mergedCounts[length] = old.counts[oldIndex++] + (oldId === addId ? counts[addIndex++] : 0);
    } else {
      mergedIds[length] = addId;
      mergedCounts[length] = counts[addIndex++];
    }
    length++;
  }
  return length === mergedIds.length ? { ids: mergedIds, counts: mergedCounts } : { ids: mergedIds.slice(0, length), counts: mergedCounts.slice(0, length) };
}

/**
 * Indexes of the adds in (unit, id) order. Packed into one number each (unit, id, index)
 * and sorted as a Float64Array, which sorts natively: the comparator sort it replaced
 * was a third of a reopen's counting.
 */
function sortedByUnitAndId(units: readonly number[], ids: readonly number[]): ArrayLike<number> {
  const count = units.length;
  let minUnit = Infinity;
  let maxUnit = -Infinity;
  let maxId = 0;
  for (let add = 0; add < count; add++) {
    if (units[add] < minUnit) minUnit = units[add];
    if (units[add] > maxUnit) maxUnit = units[add];
    if (ids[add] > maxId) maxId = ids[add];
  }
  const idSpan = maxId + 1;
  // Past the safe integers (adds spread over ages): the comparator sort.
  if ((maxUnit - minUnit + 1) * idSpan * count > Number.MAX_SAFE_INTEGER) {
    return Array.from(ids.keys()).sort((a, b) => units[a] - units[b] || ids[a] - ids[b]);
  }
  const keys = new Float64Array(count);
  for (let add = 0; add < count; add++) keys[add] = ((units[add] - minUnit) * idSpan + ids[add]) * count + add;
  keys.sort();
  const order = new Uint32Array(count);
  for (let index = 0; index < count; index++) order[index] = keys[index] % count;
  return order;
}

function newTimeLevel(): TimeLevel {
  return { byTime: new Map(), times: [] };
}

/**
 * The group number (0 up, or -1 to leave out) of each series id of a tenant, given its
 * series by id (`services[id]`, `levels[id]`; ids only grow, so a caller may keep
 * the answer and extend it for new ids).
 */
export type SeriesGrouping = (services: readonly string[], levels: readonly number[]) => ArrayLike<number>;

/** A grouping that asks `groupOf` of every series at each call. */
export function perSeries(groupOf: (service: string, level: number) => number): SeriesGrouping {
  return (services, levels) => Int32Array.from(services, (service, id) => groupOf(service, levels[id]));
}

export class MinuteCounts {
  /** `entriesMax`: the bound past which counts overflow; tests lower it. */
  constructor(private readonly entriesMax = MINUTE_COUNT_ENTRIES_MAX) {}

  private tenants = new Map<string, TenantCounts>();
  private entryCount = 0;
  private pendingCount = 0;
  private isOverflowed = false;

  /** Adds `count` rows of (tenant, service, level index 0..5) at epoch minute `minute` (floor(ts_us / 60e6)). */
  add(minute: number, tenant: string, service: string, level: number, count: number): void {
    // Overflowed: nothing is counted any more, so no series is made either.
    if (this.isOverflowed) return;
    this.addTo(this.series(tenant, service, level), minute, count);
  }

  /** A series of `tenant` (made on first use), for addTo: a reopen resolves each series once, not once per counted row. */
  series(tenant: string, service: string, level: number): SeriesRef {
    // Messages built only on failure: this runs per group row of every flush.
    if (!(Number.isInteger(level) && level >= 0 && level < LEVELS.length)) assert(false, `minute counts: level ${level} is not a level index`);
    let counts = this.tenants.get(tenant);
    if (!counts) {
      counts = { seriesIds: new Map(), services: [], levels: [], units: UNIT_MINUTES.map(newTimeLevel), pendingMinutes: [], pendingIds: [], pendingCounts: [] };
      this.tenants.set(tenant, counts);
    }
    const seriesKey = String.fromCharCode(48 + level) + service;
    let id = counts.seriesIds.get(seriesKey);
    if (id === undefined) {
      id = counts.services.length;
      counts.seriesIds.set(seriesKey, id);
      counts.services.push(service);
      counts.levels.push(level);
    }
    return { counts, id };
  }

  /** Adds `count` rows of a series (from series()) at epoch minute `minute`. */
  addTo(series: SeriesRef, minute: number, count: number): void {
    if (!Number.isSafeInteger(minute)) assert(false, `minute counts: minute ${minute} is not an integer`);
    if (!(Number.isSafeInteger(count) && count > 0)) assert(false, `minute counts: count ${count} is not a positive integer`);
    // Overflowed for good (the tenants were dropped with it), so a ref is never of a dropped tenant here.
    if (this.isOverflowed) return;
    const { counts, id } = series;
    counts.pendingMinutes.push(minute);
    counts.pendingIds.push(id);
    counts.pendingCounts.push(count);
    if (++this.pendingCount >= PENDING_ADDS_MAX) this.mergePending();
  }

  /**
   * Visits the summed counts of `tenant` over whole minutes [fromMinute, toMinute) in
   * the caller's groups, by bucket = floor(minute / bucketMinutes) x bucketMinutes, or
   * bucket = -1 for all time when bucketMinutes is null. `grouping` maps each (service,
   * level) series of the tenant to a group number (0 up) or -1 to leave it out;
   * `visit` gets each (group, bucket) once, in unspecified order. A histogram of every
   * series is then one sum per bucket, not one visit per series and bucket. Not to be
   * called once overflowed (the counts are incomplete then).
   */
  sumGroups(
    tenant: string,
    fromMinute: number,
    toMinute: number,
    bucketMinutes: number | null,
    grouping: SeriesGrouping,
    visit: (group: number, bucket: number, count: number) => void,
  ): void {
    assert(bucketMinutes === null || (Number.isSafeInteger(bucketMinutes) && bucketMinutes > 0), `minute counts: bucket of ${bucketMinutes} minutes`);
    this.mergePending();
    assert(!this.isOverflowed, "minute counts overflowed: the caller must scan");
    const counts = this.tenants.get(tenant);
    if (!counts || !(fromMinute < toMinute)) return;
    const groupOfId = grouping(counts.services, counts.levels);
    assert(groupOfId.length >= counts.services.length, `minute counts: a grouping of ${groupOfId.length} series for ${counts.services.length}`);
    let groupCount = 0;
    for (let id = 0; id < counts.services.length; id++) {
      const group = groupOfId[id];
      if (!(Number.isInteger(group) && group >= -1)) assert(false, `minute counts: group ${group}`);
      if (group >= groupCount) groupCount = group + 1;
    }
    const sums = new Float64Array(groupCount);
    const touched = new Uint32Array(groupCount);
    let touchedCount = 0;
    let bucket = NaN;
    const emit = (): void => {
      for (let index = 0; index < touchedCount; index++) {
        const group = touched[index];
        visit(group, bucket, sums[group]);
        sums[group] = 0;
      }
      touchedCount = 0;
    };
    const accumulate = (packed: Packed, startMinute: number): void => {
      const unitBucket = bucketMinutes === null ? -1 : Math.floor(startMinute / bucketMinutes) * bucketMinutes;
      // Units come in time order, so buckets never return once left.
      if (unitBucket !== bucket) {
        emit();
        bucket = unitBucket;
      }
      const { ids, counts: values } = packed;
      for (let index = 0; index < ids.length; index++) {
        const group = groupOfId[ids[index]];
        if (group < 0) continue;
        if (sums[group] === 0) touched[touchedCount++] = group;
        sums[group] += values[index];
      }
    };
    // A level's unit stands for its minutes when it lies in one bucket: its unit divides the bucket.
    const usable = UNIT_MINUTES.map((unit) => bucketMinutes === null || bucketMinutes % unit === 0);
    // Whole units of the coarsest usable level, and the partial ends at finer levels, in time order.
    const sumRange = (levelIndex: number, from: number, to: number): void => {
      while (levelIndex > 0 && !usable[levelIndex]) levelIndex--;
      const unit = UNIT_MINUTES[levelIndex];
      const level = counts.units[levelIndex];
      const wholeFrom = Math.ceil(from / unit);
      const wholeTo = Math.floor(to / unit);
      // Minutes are always whole (unit 1): only coarser levels leave partial ends or hand a range down.
      if (levelIndex > 0 && wholeFrom >= wholeTo) return sumRange(levelIndex - 1, from, to);
      if (from < wholeFrom * unit) sumRange(levelIndex - 1, from, wholeFrom * unit);
      const start = lowerBound(level.times, wholeFrom);
      const end = lowerBound(level.times, wholeTo, start);
      for (let index = start; index < end; index++) accumulate(level.byTime.get(level.times[index])!, level.times[index] * unit);
      if (wholeTo * unit < to) sumRange(levelIndex - 1, wholeTo * unit, to);
    };
    // An open end is where the data ends (the finest level holds every minute present).
    const minutes = counts.units[0].times;
    if (minutes.length === 0) return;
    sumRange(UNIT_MINUTES.length - 1, Math.max(fromMinute, minutes[0]), Math.min(toMinute, minutes[minutes.length - 1] + 1));
    emit();
  }

  /** True once the entry bound was passed: the counts are then not trusted and queries must scan. */
  get overflowed(): boolean {
    // Adds waiting to be merged may be what passes the bound.
    this.mergePending();
    return this.isOverflowed;
  }

  /** Counters held at every time level (MINUTE_COUNT_ENTRIES_MAX bounds them). */
  get entries(): number {
    this.mergePending();
    return this.entryCount;
  }

  /** Merges every tenant's pending adds into every time level; past the entry bound, drops everything. */
  private mergePending(): void {
    if (this.pendingCount === 0) return;
    this.pendingCount = 0;
    for (const counts of this.tenants.values()) {
      if (counts.pendingIds.length === 0) continue;
      UNIT_MINUTES.forEach((unit, index) => this.mergeLevel(counts.units[index], counts, unit));
      counts.pendingMinutes = [];
      counts.pendingIds = [];
      counts.pendingCounts = [];
    }
    if (this.entryCount > this.entriesMax) {
      this.isOverflowed = true;
      this.tenants = new Map();
      this.entryCount = 0;
    }
  }

  /** Sorts a tenant's pending adds by (time unit, id), sums repeats, and merges each unit's run into `level`. */
  private mergeLevel(level: TimeLevel, counts: TenantCounts, unitMinutes: number): void {
    const { pendingMinutes, pendingIds, pendingCounts } = counts;
    const units = pendingMinutes.map((minute) => Math.floor(minute / unitMinutes));
    const order = sortedByUnitAndId(units, pendingIds);
    let index = 0;
    while (index < order.length) {
      const unit = units[order[index]];
      const ids: number[] = [];
      const values: number[] = [];
      for (; index < order.length && units[order[index]] === unit; index++) {
        const add = order[index];
        if (ids.length > 0 && ids[ids.length - 1] === pendingIds[add]) values[values.length - 1] += pendingCounts[add];
        else {
          ids.push(pendingIds[add]);
          values.push(pendingCounts[add]);
        }
      }
      const old = level.byTime.get(unit);
      const merged = mergePacked(old, ids, values);
      this.entryCount += merged.ids.length - (old?.ids.length ?? 0);
      if (!old) level.times.splice(lowerBound(level.times, unit), 0, unit);
      level.byTime.set(unit, merged);
    }
  }
}

/**
 * SQL counting the rows `source` selects (a table, a read_parquet call or a
 * parenthesized subquery) by (minute, tenant, service, level). The minute is floored
 * in integers (a double division can round a timestamp just below a minute's end up
 * into the next), and toward minus infinity for times before 1970.
 */
export function minuteCountsSql(source: string): string {
  const minute = `(ts // ${MINUTE_US} - CASE WHEN ts % ${MINUTE_US} < 0 THEN 1 ELSE 0 END)`;
  return `SELECT ${minute}::BIGINT AS minute, tenant, service, level, count(*) AS "count" FROM ${source} GROUP BY ALL`;
}

/** SQL of the (tenant, service, level) series a minuteCountsSql result in `table` holds, each with a dense id `sid` from 0. */
export function minuteSeriesSql(table: string): string {
  return `SELECT tenant, service, level, (row_number() OVER (ORDER BY tenant, service, level) - 1)::INTEGER AS sid FROM (SELECT DISTINCT tenant, service, level FROM ${table})`;
}

/**
 * SQL of `table`'s counts by (minute, sid) through the series table `seriesTable`,
 * minutes ascending: numbers only, so reading a reopened shard's ~1M groups decodes no
 * string (two strings a row were half of its counting), and a merge of pending adds
 * spans a few minutes, not all of them.
 */
export function minuteCountsBySeriesSql(table: string, seriesTable: string): string {
  return `SELECT c.minute::DOUBLE AS minute, s.sid, c."count"::DOUBLE AS n FROM ${table} c JOIN ${seriesTable} s USING (tenant, service, level) ORDER BY c.minute, s.sid`;
}

/** Adds the rows of a minuteCountsBySeriesSql result to `counts`; `series[sid]` names each series. */
export function addSeriesCountsResult(counts: MinuteCounts, series: readonly { tenant: string; service: string; level: number }[], result: DuckDBMaterializedResult): void {
  const refs = series.map((each) => counts.series(each.tenant, each.service, each.level));
  for (let chunkIndex = 0; chunkIndex < result.chunkCount; chunkIndex++) {
    const chunk = result.getChunk(chunkIndex);
    const [minutes, sids, rows] = [0, 1, 2].map((column) => chunk.getColumnVector(column));
    for (let row = 0; row < chunk.rowCount; row++) {
      const ref = refs[sids.getItem(row) as number];
      if (ref === undefined) assert(false, `minute counts: series ${String(sids.getItem(row))} of ${refs.length}`);
      counts.addTo(ref, minutes.getItem(row) as number, rows.getItem(row) as number);
    }
  }
}

