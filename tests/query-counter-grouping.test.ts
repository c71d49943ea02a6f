// The counted answer's grouping cache (query/counter-aggregate.ts): a dashboard's
// repeated query reuses the mapping of series to groups, extended as series appear,
// and must answer exactly what a fresh grouping does.
// Method: pure; MinuteCounts fed random adds between queries of several shapes, each
// answer compared with a brute-force sum of the adds.

import { describe, expect, test } from "bun:test";
import { counterPlan, counterRows } from "../src/query/counter-aggregate.ts";
import type { AggregateSpec } from "../src/query/aggregate.ts";
import type { SearchFilter } from "../src/query/filter.ts";
import { LEVELS } from "../src/protocol/event.ts";
import { COUNTER_GROUPINGS_CACHED_MAX } from "../src/query/limits.ts";
import { MinuteCounts, MINUTE_US } from "../src/storage/minute-counts.ts";

const NOW_MINUTE = 29_400_000;

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state / 0x1_0000_0000;
  };
}

interface Add {
  minute: number;
  service: string;
  level: number;
  count: number;
}

const none: SearchFilter = { services: [], levels: [], hostnames: [], traceIds: [], query: null };

/** The rows counterRows must give, from the adds themselves, sorted for comparison. */
function reference(adds: readonly Add[], spec: AggregateSpec, filter: SearchFilter, fromMinute: number): string[] {
  const sums = new Map<string, number>();
  for (const add of adds) {
    if (add.minute < fromMinute) continue;
    if (filter.services.length > 0 && !filter.services.includes(add.service)) continue;
    if (filter.levels.length > 0 && !filter.levels.includes(LEVELS[add.level])) continue;
    const key = JSON.stringify(spec.groupBy.map((field) => ("name" in field && field.name === "level" ? LEVELS[add.level] : add.service)));
    sums.set(key, (sums.get(key) ?? 0) + add.count);
  }
  return [...sums].map(([key, n]) => `${key} ${n}`).sort();
}

describe("counterRows", () => {
  test("each answer has keys of its own: changing one does not alter later answers", () => {
    const counts = new MinuteCounts();
    counts.add(NOW_MINUTE, "default", "api", 2, 5);
    const spec: AggregateSpec = { groupBy: [{ name: "service" }], functions: [] };
    const filter = { ...none, fromUs: (NOW_MINUTE - 10) * MINUTE_US };
    const [row] = counterRows(counts, "default", spec, filter, counterPlan(spec, filter)!);
    row.key.push("x");
    expect(counterRows(counts, "default", spec, filter, counterPlan(spec, filter)!)[0].key).toEqual(["api"]);
  });

  test("repeated shapes answer exactly while series keep appearing between them", () => {
    const random = seeded(7);
    const counts = new MinuteCounts();
    const adds: Add[] = [];
    const shapes: { spec: AggregateSpec; filter: SearchFilter }[] = [
      { spec: { groupBy: [{ name: "service" }, { name: "level" }], functions: [] }, filter: none },
      { spec: { groupBy: [{ name: "level" }, { name: "service" }], functions: [] }, filter: none },
      { spec: { groupBy: [{ name: "service" }], functions: [] }, filter: { ...none, levels: ["ERROR", "WARN"] } },
      { spec: { groupBy: [{ name: "level" }], functions: [] }, filter: { ...none, services: ["service-3", "service-40"] } },
      // The same group_by as above with other filters: a grouping must not be shared across them.
      { spec: { groupBy: [{ name: "level" }], functions: [] }, filter: { ...none, services: ["service-4"] } },
      { spec: { groupBy: [{ name: "service" }, { name: "level" }], functions: [] }, filter: { ...none, levels: ["INFO"] } },
      // More shapes than the cache keeps: it starts over and still answers right.
      ...Array.from({ length: COUNTER_GROUPINGS_CACHED_MAX + 3 }, (_, index) => ({ spec: { groupBy: [{ name: "service" as const }], functions: [] }, filter: { ...none, services: [`service-${index}`, `service-${index + 1}`] } })),
    ];
    const fromMinute = NOW_MINUTE - 1440;
    for (let round = 0; round < 12; round++) {
      // Each round brings new services and levels (new series ids) as well as old ones.
      for (let index = 0; index < 300; index++) {
        const add = { minute: fromMinute - 30 + Math.floor(random() * 1500), service: `service-${Math.floor(random() * (5 + round * 4))}`, level: Math.floor(random() * LEVELS.length), count: 1 + Math.floor(random() * 9) };
        adds.push(add);
        counts.add(add.minute, "default", add.service, add.level, add.count);
      }
      for (const { spec, filter } of shapes) {
        const withRange = { ...filter, fromUs: fromMinute * MINUTE_US };
        const rows = counterRows(counts, "default", spec, withRange, counterPlan(spec, withRange)!);
        expect({ round, spec, filter, rows: rows.map((row) => `${JSON.stringify(row.key)} ${row.n}`).sort() }).toEqual({ round, spec, filter, rows: reference(adds, spec, withRange, fromMinute) });
      }
    }
  });
});
