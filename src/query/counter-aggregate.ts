// Dashboard counts from the shard's per-minute counters instead of a scan: "count by
// service and level over the last 24 h" reads the counters (storage/minute-counts.ts)
// for every whole minute in the range, and scans only the partial minutes at its two
// edges. The counters and the snapshot are read in the same tick, so the answer is
// exactly what a scan of that snapshot gives. Pure apart from reading the counters.

import { MINUTE_US, type MinuteCounts } from "../storage/minute-counts.ts";
import { levelIndex, levelName } from "../storage/schema.ts";
import { groupMapKey, type AggregateRow, type AggregateSpec } from "./aggregate.ts";
import type { SearchFilter } from "./filter.ts";
import { COUNTER_GROUPINGS_CACHED_MAX } from "./limits.ts";

export interface CounterPlan {
  fromMinute: number;
  toMinute: number;
  /** Partial minutes at the edges, [fromUs, toUs), to scan. */
  edges: { fromUs: number; toUs: number }[];
  bucketMinutes: number | null;
}

/** The plan when the counters can answer: count only, grouped by service and/or level (and time by whole minutes), filtered by service and level only. */
export function counterPlan(spec: AggregateSpec, filter: SearchFilter): CounterPlan | null {
  if (spec.functions.length > 0 || filter.query !== null || filter.hostnames.length > 0 || filter.traceIds.length > 0 || (filter.eventIds?.length ?? 0) > 0) return null;
  const names = spec.groupBy.map((field) => ("name" in field ? field.name : null));
  if (names.some((name) => name !== "service" && name !== "level") || new Set(names).size !== names.length) return null;
  if (spec.intervalUs !== undefined && spec.intervalUs % MINUTE_US !== 0) return null;
  const edges: CounterPlan["edges"] = [];
  let fromMinute = Number.MIN_SAFE_INTEGER;
  let toMinute = Number.MAX_SAFE_INTEGER;
  if (filter.fromUs !== undefined) {
    fromMinute = Math.ceil(filter.fromUs / MINUTE_US);
    if (fromMinute * MINUTE_US > filter.fromUs) edges.push({ fromUs: filter.fromUs, toUs: Math.min(fromMinute * MINUTE_US, filter.toUs ?? Infinity) });
  }
  if (filter.toUs !== undefined) {
    toMinute = Math.floor(filter.toUs / MINUTE_US);
    const start = Math.max(toMinute * MINUTE_US, filter.fromUs ?? -Infinity);
    // A range inside one minute is all edge: the first edge already covers it.
    if (start < filter.toUs && fromMinute <= toMinute) edges.push({ fromUs: start, toUs: filter.toUs });
  }
  return { fromMinute, toMinute, edges, bucketMinutes: spec.intervalUs === undefined ? null : spec.intervalUs / MINUTE_US };
}

/**
 * The plan for a shard whose newest row is at `newestTs`: when no row is at or past
 * the range's end, its last partial minute holds only rows inside the range, so the
 * counters answer it whole and it is not scanned. "Last 24 h" ends now, mid-minute,
 * and under live ingest that edge was a scan of every memtable part.
 */
export function withNewest(plan: CounterPlan, filter: SearchFilter, newestTs: number): CounterPlan {
  if (filter.toUs === undefined || newestTs >= filter.toUs || plan.fromMinute > plan.toMinute) return plan;
  const endStart = plan.toMinute * MINUTE_US;
  const edges = plan.edges.filter((edge) => !(edge.toUs === filter.toUs && edge.fromUs === Math.max(endStart, filter.fromUs ?? -Infinity)));
  if (edges.length === plan.edges.length) return plan;
  return { ...plan, toMinute: plan.toMinute + 1, edges };
}

/** One grouping of a tenant's series (see counterRows), extended as series are added. */
interface CachedGrouping {
  groupOfId: Int32Array;
  seriesCount: number;
  groupKeys: (readonly (string | number | null)[])[];
  groupByText: Map<string, number>;
}

/**
 * Groupings kept per tenant (keyed by its append-only series list) and query shape: a
 * dashboard asks the same counts again and again, and mapping ~1,800 series to their
 * groups was half of a counted answer's time on a shard.
 */
const groupings = new WeakMap<readonly string[], Map<string, CachedGrouping>>();

/** The counters' rows for the whole minutes of the plan, keyed as aggregateRowOf keys them. */
export function counterRows(counts: MinuteCounts, tenant: string, spec: AggregateSpec, filter: SearchFilter, plan: CounterPlan): AggregateRow[] {
  // Series are summed into their group (the group_by fields' values) inside the counters, once per bucket.
  // The fields are service and level only, so a level digit and the service name key a group.
  const byLevel = spec.groupBy.map((field) => "name" in field && field.name === "level");
  const withLevel = byLevel.includes(true);
  const withService = byLevel.includes(false);
  const shape = JSON.stringify([byLevel, filter.services, filter.levels]);
  let cached: CachedGrouping | undefined;
  const grouping = (services: readonly string[], levels: readonly number[]): Int32Array => {
    let byShape = groupings.get(services);
    if (!byShape) groupings.set(services, (byShape = new Map()));
    cached = byShape.get(shape);
    if (!cached) {
      if (byShape.size >= COUNTER_GROUPINGS_CACHED_MAX) byShape.clear();
      cached = { groupOfId: new Int32Array(Math.max(16, services.length)), seriesCount: 0, groupKeys: [], groupByText: new Map() };
      byShape.set(shape, cached);
    }
    if (cached.seriesCount < services.length) extendGrouping(cached, services, levels, { filter, byLevel, withLevel, withService });
    return cached.groupOfId;
  };
  const rows: AggregateRow[] = [];
  counts.sumGroups(tenant, plan.fromMinute, plan.toMinute, plan.bucketMinutes, grouping, (group, bucket, count) => {
    const key = cached!.groupKeys[group];
    // A copy per answer: the grouping's keys are shared by every answer of its shape.
    rows.push({ key: plan.bucketMinutes === null ? key.slice() : [...key, bucket * MINUTE_US], n: count, f: [] });
  });
  return rows;
}

/** Maps the series added since `cached` was last extended to their groups. */
function extendGrouping(cached: CachedGrouping, services: readonly string[], levels: readonly number[], shape: { filter: SearchFilter; byLevel: boolean[]; withLevel: boolean; withService: boolean }): void {
  const { filter, byLevel, withLevel, withService } = shape;
  const allowedServices = filter.services.length > 0 ? new Set(filter.services) : null;
  const allowedLevels = filter.levels.length > 0 ? new Set(filter.levels.map(levelIndex)) : null;
  if (cached.groupOfId.length < services.length) {
    const grown = new Int32Array(Math.max(services.length, cached.groupOfId.length * 2));
    grown.set(cached.groupOfId);
    cached.groupOfId = grown;
  }
  for (let id = cached.seriesCount; id < services.length; id++) {
    const [service, level] = [services[id], levels[id]];
    if ((allowedServices && !allowedServices.has(service)) || (allowedLevels && !allowedLevels.has(level))) {
      cached.groupOfId[id] = -1;
      continue;
    }
    const text = (withLevel ? String.fromCharCode(48 + level) : "") + (withService ? service : "");
    let group = cached.groupByText.get(text);
    if (group === undefined) {
      // Not frozen, though shared: each answer copies it instead (counterRows). Bun reads
      // a frozen array's elements ~10x slower, and encoding a shard's ~1,880 counted rows
      // (rowsToWire) read each key twice: a third of a counted answer's JavaScript time.
      group = cached.groupKeys.push(byLevel.map((isLevel) => (isLevel ? levelName(level) : service))) - 1;
      cached.groupByText.set(text, group);
    }
    cached.groupOfId[id] = group;
  }
  cached.seriesCount = services.length;
}

/** Sums rows with equal keys (count-only rows). */
export function addCountRows(...lists: readonly (readonly AggregateRow[])[]): AggregateRow[] {
  const groups = new Map<string, AggregateRow>();
  for (const list of lists) {
    for (const row of list) {
      const mapKey = groupMapKey(row.key);
      const group = groups.get(mapKey);
      if (group) group.n += row.n;
      else groups.set(mapKey, { key: row.key, n: row.n, f: [] });
    }
  }
  return [...groups.values()].sort((a, b) => b.n - a.n);
}
