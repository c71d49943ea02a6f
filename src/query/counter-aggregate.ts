// Dashboard counts from the shard's per-minute counters instead of a scan: "count by
// service and level over the last 24 h" reads the counters (storage/minute-counts.ts)
// for every whole minute in the range, and scans only the partial minutes at its two
// edges. The counters and the snapshot are read in the same tick, so the answer is
// exactly what a scan of that snapshot gives. Pure apart from reading the counters.

import { MINUTE_US, type MinuteCounts } from "../storage/minute-counts.ts";
import { levelIndex, levelName } from "../storage/schema.ts";
import type { AggregateRow, AggregateSpec } from "./aggregate.ts";
import type { SearchFilter } from "./filter.ts";

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

/** The counters' rows for the whole minutes of the plan, keyed as aggregateRowOf keys them. */
export function counterRows(counts: MinuteCounts, tenant: string, spec: AggregateSpec, filter: SearchFilter, plan: CounterPlan): AggregateRow[] {
  const services = filter.services.length > 0 ? new Set(filter.services) : null;
  const levels = filter.levels.length > 0 ? new Set(filter.levels.map(levelIndex)) : null;
  // Series are summed into their group (the group_by fields' values) inside the counters, once per bucket.
  // The fields are service and level only, so a level digit and the service name key a group.
  const byLevel = spec.groupBy.map((field) => "name" in field && field.name === "level");
  const withLevel = byLevel.includes(true);
  const withService = byLevel.includes(false);
  const groupKeys: (string | number | null)[][] = [];
  const groupByText = new Map<string, number>();
  const groupOf = (service: string, level: number): number => {
    if ((services && !services.has(service)) || (levels && !levels.has(level))) return -1;
    const text = (withLevel ? String.fromCharCode(48 + level) : "") + (withService ? service : "");
    let group = groupByText.get(text);
    if (group === undefined) {
      group = groupKeys.push(byLevel.map((isLevel) => (isLevel ? levelName(level) : service))) - 1;
      groupByText.set(text, group);
    }
    return group;
  };
  const rows: AggregateRow[] = [];
  counts.sumGroups(tenant, plan.fromMinute, plan.toMinute, plan.bucketMinutes, groupOf, (group, bucket, count) => {
    rows.push({ key: plan.bucketMinutes === null ? groupKeys[group] : [...groupKeys[group], bucket * MINUTE_US], n: count, f: [] });
  });
  return rows;
}

/** Sums rows with equal keys (count-only rows). */
export function addCountRows(...lists: readonly (readonly AggregateRow[])[]): AggregateRow[] {
  const groups = new Map<string, AggregateRow>();
  for (const list of lists) {
    for (const row of list) {
      const text = JSON.stringify(row.key);
      const group = groups.get(text);
      if (group) group.n += row.n;
      else groups.set(text, { key: row.key, n: row.n, f: [] });
    }
  }
  return [...groups.values()].sort((a, b) => b.n - a.n);
}
