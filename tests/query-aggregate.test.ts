// Goal: aggregate parameters parse into a spec or a clear 400; a spec run as SQL on
// several shards and merged gives exactly what one pass over all rows gives (counts,
// distinct counts, min, max, sum, avg, histogram buckets), and percentiles within 1%.
// Method: a real DuckDB holding 3,000 seeded rows split over three shard tables; the
// expected answers are computed in JavaScript over the same rows.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DuckDBConnection } from "@duckdb/node-api";
import { LEVELS } from "../src/protocol/event.ts";
import { aggregateResponse, aggregateRowOf, mergeAggregateRows, parseAggregateSpec, sketchQuantile, type AggregateSpec } from "../src/query/aggregate.ts";
import { QueryError } from "../src/query/filter.ts";
import { aggregateSql } from "../src/query/sql.ts";
import { addCountRows, counterPlan, withNewest } from "../src/query/counter-aggregate.ts";
import { rowsToWire, shardReplyText, shardTableReplyOf } from "../src/protocol/aggregate-wire.ts";
import { rowsFromWire, shardReplyOf } from "./helpers/aggregate-wire.ts";
import { mergeAggregateTables } from "../src/query/table-merge.ts";
import { Duck, execute, queryRows } from "../src/storage/duckdb.ts";
import { COLUMNS } from "../src/storage/schema.ts";
import { tempDir } from "./helpers/processes.ts";
import { Draw, seeded } from "./helpers/random.ts";

const HOUR_US = 3_600_000_000;
const START_US = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

describe("parseAggregateSpec", () => {
  const parse = (query: string) => parseAggregateSpec(new URLSearchParams(query), { fromUs: START_US, toUs: START_US + HOUR_US }, START_US + HOUR_US);

  test.each<[string, AggregateSpec]>([
    ["", { groupBy: [{ name: "service" }], functions: [], intervalUs: undefined, top: undefined }],
    ["group_by=service,level", { groupBy: [{ name: "service" }, { name: "level" }], functions: [], intervalUs: undefined, top: undefined }],
    ["group_by=metadata.http.status&top=5", { groupBy: [{ metadata: ["http", "status"] }], functions: [], intervalUs: undefined, top: 5 }],
    ["interval=1m", { groupBy: [], functions: [], intervalUs: 60_000_000, top: undefined }],
    [
      "group_by=service&agg=count,count_distinct(trace_id),p99(metadata.duration_ms)&agg=avg(metadata.duration_ms)",
      { groupBy: [{ name: "service" }], functions: [{ fn: "count_distinct", field: { name: "trace_id" } }, { fn: "p99", field: { metadata: ["duration_ms"] } }, { fn: "avg", field: { metadata: ["duration_ms"] } }], intervalUs: undefined, top: undefined },
    ],
  ])("%p", (query, spec) => {
    expect(parse(query)).toEqual(spec);
  });

  test.each<[string, string]>([
    ["group_by=message", 'group_by: "message" is not one of service, level, hostname, trace_id, span_id or metadata.<path>'],
    ["group_by=metadata.a;b", 'group_by: "metadata.a;b" is not one of service, level, hostname, trace_id, span_id or metadata.<path>'],
    ["group_by=service,level,hostname,trace_id,span_id", "group_by: at most 4 fields"],
    ["interval=1x", 'interval: "1x" is not a duration like 30s, 1m, 1h or 1d'],
    ["interval=500ms", "interval: the smallest bucket is 1s"],
    ["interval=1s&group_by=service", "(a day of one-second buckets)"],
    ["agg=median(metadata.x)", 'agg: "median(metadata.x)" is not one of count, count_distinct(field), min(field), max(field), sum(field), avg(field), p50(field), p90(field), p95(field), p99(field)'],
    ["agg=p99", "agg: p99 needs a field, e.g. p99(metadata.duration_ms)"],
    ["agg=max(service)", "agg: max needs a numeric metadata field, e.g. max(metadata.duration_ms)"],
    ["agg=count(service)", "agg: count takes no field"],
    ["top=0", 'top: "0" is not an integer from 1 to 10000'],
  ])("%p is a 400", (query, message) => {
    if (query === "interval=1s&group_by=service") {
      // 3,600 one-second buckets fit; a day of them does not.
      expect(() => parseAggregateSpec(new URLSearchParams(query), { fromUs: START_US, toUs: START_US + 24 * HOUR_US })).toThrow("86400 buckets over the range, more than 10000; use a wider interval");
      return;
    }
    let thrown: unknown;
    try {
      parse(query);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(QueryError);
    expect((thrown as QueryError).message).toBe(message);
  });

  test("interval without from is a 400", () => {
    expect(() => parseAggregateSpec(new URLSearchParams("interval=1m"), {})).toThrow("interval needs from");
  });
});

describe("sketchQuantile", () => {
  test("every value of a wide range comes back within 1%", () => {
    for (const value of [0.001, 0.5, 1, 7, 99.9, 12_345, 1e9, -3, -0.02]) {
      const key = value > 0 ? Math.ceil(Math.log(value) / Math.log(1.02)) + 100_000 : -(Math.ceil(Math.log(-value) / Math.log(1.02)) + 100_000);
      const estimate = sketchQuantile(new Map([[key, 1]]), 0.5)!;
      expect(Math.abs(estimate - value)).toBeLessThanOrEqual(Math.abs(value) * 0.0101);
    }
    expect(sketchQuantile(new Map([[0, 3]]), 0.99)).toBe(0);
    expect(sketchQuantile(new Map(), 0.5)).toBeNull();
  });
});

interface Row {
  ts: number;
  level: number;
  service: string;
  hostname: string;
  traceId: string;
  metadata: string;
  duration: number | null;
}

const SERVICES = ["api", "web", "db", "auth", "billing"];
const draw = new Draw(seeded(0xa66));
const ROWS: Row[] = Array.from({ length: 3000 }, (_, index) => {
  const kind = draw.int(10);
  const duration = kind < 7 ? Math.round(draw.int(100_000) * 100) / 1000 : kind === 7 ? -draw.int(50) : null;
  const metadata = duration === null ? (kind === 8 ? '{"duration_ms":"slow"}' : "{}") : JSON.stringify({ duration_ms: duration, http: { status: draw.pick([200, 404, 500]) } });
  return {
    ts: START_US + draw.int(3 * HOUR_US),
    level: draw.int(LEVELS.length),
    service: draw.pick(SERVICES),
    hostname: `h${draw.int(40)}`,
    traceId: `t${draw.int(900)}`,
    metadata,
    duration,
  };
});

const root = tempDir("query-aggregate");
let duck: Duck;
let connection: DuckDBConnection;

beforeAll(async () => {
  duck = await Duck.open({ dataDir: root.path, memoryLimit: "256MB", threads: 2 });
  connection = await duck.connect();
  for (let shard = 0; shard < 3; shard++) {
    await execute(connection, `CREATE TABLE mem_s${shard}_1 (${COLUMNS.map(([column, type]) => `${column} ${type}`).join(", ")})`);
    const rows = ROWS.filter((_, index) => index % 3 === shard);
    for (let start = 0; start < rows.length; start += 200) {
      const batch = rows.slice(start, start + 200);
      const params: (string | number)[] = [];
      const tuples = batch.map((row, offset) => {
        const values = [row.ts, row.ts, start + offset, shard, "default", row.level, row.service, row.hostname, row.traceId, "", "m", row.metadata];
        return `(${values.map((value) => (params.push(value), `$${params.length}`)).join(", ")})`;
      });
      await execute(connection, `INSERT INTO mem_s${shard}_1 VALUES ${tuples.join(", ")}`, params);
    }
  }
});

afterAll(() => {
  connection?.closeSync();
  duck?.close();
  root.remove();
});

async function run(spec: AggregateSpec): Promise<Record<string, unknown>> {
  const shards = [];
  for (let shard = 0; shard < 3; shard++) {
    const query = aggregateSql(`SELECT * FROM mem_s${shard}_1`, { sql: "tenant = $1", params: ["default"] }, spec);
    const rows = await queryRows(connection, query.sql, query.params);
    shards.push({ rows: rows.map((row) => aggregateRowOf(spec, row)), overflow: false });
  }
  return aggregateResponse(spec, mergeAggregateRows(spec, shards));
}

function groupsOf(keyOf: (row: Row) => string): Map<string, Row[]> {
  const groups = new Map<string, Row[]>();
  for (const row of ROWS) groups.set(keyOf(row), [...(groups.get(keyOf(row)) ?? []), row]);
  return groups;
}

describe("an aggregate over three shards equals one pass over every row", () => {
  test("count by service and level, largest first", async () => {
    const result = await run({ groupBy: [{ name: "service" }, { name: "level" }], functions: [] });
    const expected = groupsOf((row) => `${row.service}/${LEVELS[row.level]}`);
    const buckets = result.buckets as { service: string; level: string; count: number }[];
    expect(buckets.length).toBe(expected.size);
    for (const bucket of buckets) expect(bucket.count).toBe(expected.get(`${bucket.service}/${bucket.level}`)!.length);
    expect(buckets.map((bucket) => bucket.count)).toEqual([...buckets.map((bucket) => bucket.count)].sort((a, b) => b - a));
    expect(result.aggregations).toBeUndefined();
  });

  test("count_distinct, min, max, sum, avg per service, exactly; percentiles within 1%", async () => {
    const spec: AggregateSpec = {
      groupBy: [{ name: "service" }],
      functions: ["count_distinct", "min", "max", "sum", "avg", "p50", "p90", "p99"].map((fn) => ({ fn, field: fn === "count_distinct" ? { name: "trace_id" } : { metadata: ["duration_ms"] } }) as AggregateSpec["functions"][number]),
    };
    const result = await run(spec);
    for (const bucket of result.buckets as Record<string, number | string>[]) {
      const rows = ROWS.filter((row) => row.service === bucket.service);
      const values = rows.map((row) => row.duration).filter((value): value is number => value !== null).sort((a, b) => a - b);
      expect(bucket.count).toBe(rows.length);
      expect(bucket["count_distinct(trace_id)"]).toBe(new Set(rows.map((row) => row.traceId)).size);
      expect(bucket["min(metadata.duration_ms)"]).toBe(values[0]);
      expect(bucket["max(metadata.duration_ms)"]).toBe(values[values.length - 1]);
      const sum = values.reduce((total, value) => total + value, 0);
      expect(bucket["sum(metadata.duration_ms)"] as number).toBeCloseTo(sum, 6);
      expect(bucket["avg(metadata.duration_ms)"] as number).toBeCloseTo(sum / values.length, 6);
      for (const [name, q] of [["p50", 0.5], ["p90", 0.9], ["p99", 0.99]] as const) {
        const exact = values[Math.floor(q * (values.length - 1))];
        expect(Math.abs((bucket[`${name}(metadata.duration_ms)`] as number) - exact)).toBeLessThanOrEqual(Math.abs(exact) * 0.0101 + 1e-9);
      }
    }
  });

  test("a 10-minute histogram by level, buckets in time order, counts exact", async () => {
    const width = 600_000_000;
    const result = await run({ groupBy: [{ name: "level" }], intervalUs: width, functions: [] });
    const expected = groupsOf((row) => `${Math.floor(row.ts / width) * width}/${LEVELS[row.level]}`);
    const buckets = result.buckets as { level: string; time: string; count: number }[];
    expect(buckets.length).toBe(expected.size);
    for (const bucket of buckets) expect(bucket.count).toBe(expected.get(`${Date.parse(bucket.time) * 1000}/${bucket.level}`)!.length);
    const times = buckets.map((bucket) => Date.parse(bucket.time));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  test("group by a metadata path: absent is null; top keeps the largest", async () => {
    const result = await run({ groupBy: [{ metadata: ["http", "status"] }], functions: [], top: 2 });
    const counts = groupsOf((row) => String((JSON.parse(row.metadata) as { http?: { status: number } }).http?.status ?? null));
    const expected = [...counts].map(([key, rows]) => [key, rows.length] as const).sort((a, b) => b[1] - a[1]).slice(0, 2);
    expect((result.buckets as Record<string, unknown>[]).map((bucket) => [String(bucket["metadata.http.status"]), bucket.count])).toEqual(expected.map(([key, count]) => [key, count]));
  });

  test("the seed shape stays for one group_by and count only", async () => {
    const result = await run({ groupBy: [{ name: "hostname" }], functions: [] });
    expect(Object.values(result.aggregations as Record<string, number>).reduce((a, b) => a + b, 0)).toBe(ROWS.length);
    expect(result.group_by).toBe("hostname");
  });
});

describe("counterPlan", () => {
  const M = 60_000_000;
  const none = { services: [], levels: [], hostnames: [], traceIds: [], query: null };
  const count: AggregateSpec = { groupBy: [{ name: "service" }, { name: "level" }], functions: [] };

  test.each<[string, { fromUs?: number; toUs?: number }, { fromMinute: number; toMinute: number; edges: { fromUs: number; toUs: number }[] }]>([
    ["aligned", { fromUs: 10 * M, toUs: 20 * M }, { fromMinute: 10, toMinute: 20, edges: [] }],
    ["unaligned both", { fromUs: 10 * M + 5, toUs: 20 * M + 7 }, { fromMinute: 11, toMinute: 20, edges: [{ fromUs: 10 * M + 5, toUs: 11 * M }, { fromUs: 20 * M, toUs: 20 * M + 7 }] }],
    ["inside one minute", { fromUs: 10 * M + 5, toUs: 10 * M + 9 }, { fromMinute: 11, toMinute: 10, edges: [{ fromUs: 10 * M + 5, toUs: 10 * M + 9 }] }],
    ["aligned start inside one minute", { fromUs: 10 * M, toUs: 10 * M + 9 }, { fromMinute: 10, toMinute: 10, edges: [{ fromUs: 10 * M, toUs: 10 * M + 9 }] }],
    ["no range", {}, { fromMinute: Number.MIN_SAFE_INTEGER, toMinute: Number.MAX_SAFE_INTEGER, edges: [] }],
  ])("%s", (_name, range, expected) => {
    expect(counterPlan(count, { ...none, ...range })).toEqual({ ...expected, bucketMinutes: null });
  });

  test.each<[string, AggregateSpec, object]>([
    ["a function", { ...count, functions: [{ fn: "max", field: { metadata: ["x"] } }] }, {}],
    ["a hostname group", { groupBy: [{ name: "hostname" }], functions: [] }, {}],
    ["a metadata group", { groupBy: [{ metadata: ["x"] }], functions: [] }, {}],
    ["30 s buckets", { ...count, intervalUs: 30_000_000 }, {}],
    ["a q", count, { query: { type: "text", value: "x" } }],
    ["a hostname filter", count, { hostnames: ["h"] }],
  ])("no plan with %s", (_name, spec, filter) => {
    expect(counterPlan(spec, { ...none, ...filter })).toBeNull();
  });

  // withNewest: a shard whose rows all end before `to` counts the last partial minute whole.
  test.each<[string, { fromUs?: number; toUs?: number }, number, { toMinute: number; edges: { fromUs: number; toUs: number }[] }]>([
    ["newest before to: the end edge is counted", { fromUs: 10 * M + 5, toUs: 20 * M + 7 }, 20 * M + 6, { toMinute: 21, edges: [{ fromUs: 10 * M + 5, toUs: 11 * M }] }],
    ["newest at to: scanned", { fromUs: 10 * M + 5, toUs: 20 * M + 7 }, 20 * M + 7, { toMinute: 20, edges: [{ fromUs: 10 * M + 5, toUs: 11 * M }, { fromUs: 20 * M, toUs: 20 * M + 7 }] }],
    ["newest past to: scanned", { fromUs: 10 * M, toUs: 20 * M + 7 }, 25 * M, { toMinute: 20, edges: [{ fromUs: 20 * M, toUs: 20 * M + 7 }] }],
    ["no rows at all", { fromUs: 10 * M, toUs: 20 * M + 7 }, -Infinity, { toMinute: 21, edges: [] }],
    ["aligned start inside one minute", { fromUs: 10 * M, toUs: 10 * M + 9 }, 10 * M + 3, { toMinute: 11, edges: [] }],
    ["unaligned start inside one minute: stays a scan", { fromUs: 10 * M + 5, toUs: 10 * M + 9 }, 0, { toMinute: 10, edges: [{ fromUs: 10 * M + 5, toUs: 10 * M + 9 }] }],
    ["to at the start's minute end: nothing to widen", { fromUs: 10 * M + 5, toUs: 11 * M }, 0, { toMinute: 11, edges: [{ fromUs: 10 * M + 5, toUs: 11 * M }] }],
    ["aligned to", { fromUs: 10 * M, toUs: 20 * M }, 0, { toMinute: 20, edges: [] }],
  ])("withNewest: %s", (_name, range, newestTs, expected) => {
    const filter = { ...none, ...range };
    expect(withNewest(counterPlan(count, filter)!, filter, newestTs)).toMatchObject(expected);
  });
});

describe("aggregate replies on the wire", () => {
  test("rows survive the table by column: strings, numbers, nulls, mixed columns, function states and distinct values", () => {
    const draw = new Draw(seeded(17));
    for (let round = 0; round < 200; round++) {
      const width = draw.int(4);
      const kinds = Array.from({ length: width }, () => draw.pick(["string", "number", "mixed"] as const));
      const value = (kind: (typeof kinds)[number]) => {
        if (draw.chance(0.1)) return null;
        if (kind === "number" || (kind === "mixed" && draw.chance(0.5))) return (draw.int(2e6) - 1e6) / draw.pick([1, 4]);
        return draw.pick(["a", "b", "", "é ü", "\u0000", "svc-1", "-1", "0"]);
      };
      const withF = draw.chance(0.5);
      const rows = Array.from({ length: draw.int(31) }, () => {
        const row: { key: (string | number | null)[]; n: number; f: unknown[]; values?: (string[] | null)[] } = { key: kinds.map(value), n: draw.int(1e9), f: withF ? [draw.int(6), [1.5, 2], null] : [] };
        if (withF && draw.chance(0.5)) row.values = [[draw.pick(["x", "y"])], null];
        return row;
      });
      const wire = JSON.parse(JSON.stringify(rowsToWire(rows)));
      expect(rowsFromWire(wire)).toEqual(rows);
    }
  });

  test("each key string is sent once, and a whole reply goes through JSON text and back", () => {
    const rows = Array.from({ length: 600 }, (_, index) => ({ key: [`service-${index % 100}`, ["INFO", "WARN", "ERROR"][index % 3], index * 60_000_000], n: index + 1, f: [] }));
    const wire = rowsToWire(rows);
    expect(wire.strings.length).toBe(103);
    expect(wire.f).toBeUndefined();
    const reply = { ok: true as const, kind: "aggregate" as const, rows, overflow: false, fromCounters: true, shard: 3, tookMs: 1.5, segmentsTotal: 4, segmentsSkipped: 1, rowsScanned: 10 };
    const text = shardReplyText(reply);
    expect(text.length).toBeLessThan(JSON.stringify(reply).length / 2);
    expect(shardReplyOf(JSON.parse(text))).toEqual(reply);
    const error = { ok: false as const, shard: 1, code: "busy" as const, error: "busy" };
    expect(shardReplyOf(JSON.parse(shardReplyText(error)))).toEqual(error);
  });

  test("a table whose columns disagree with its rows is refused, as a reply too", () => {
    expect(() => rowsFromWire({ strings: ["a"], keys: [{ s: [0, 0] }], n: [1] })).toThrow("a key column of 2 values for 1 rows");
    expect(() => rowsFromWire({ strings: ["a"], keys: [{ s: [3] }], n: [1] })).toThrow("string 3 of 1");
    expect(() => rowsFromWire({ strings: [], keys: [], n: [1, 2], f: [[]] })).toThrow("function states");
    const reply = { ok: true as const, kind: "aggregate" as const, overflow: false, shard: 3, tookMs: 1, segmentsTotal: 1, segmentsSkipped: 0, rowsScanned: 1 };
    expect(() => shardTableReplyOf({ ...reply, table: { strings: ["a"], keys: [{ s: [-2] }], n: [1] } })).toThrow("string -2 of 1");
    expect(() => shardTableReplyOf({ ...reply, table: { strings: [], keys: [{ v: [1, 2] }], n: [1] } })).toThrow("a key column of 2 values for 1 rows");
    expect(() => shardTableReplyOf({ ...reply } as never)).toThrow("no table");
    expect(() => shardTableReplyOf({ ...reply, table: { strings: ["a", "b"], keys: [{ s: [0.5] }], n: [1] } })).toThrow("string 0.5 of 2");
    expect(() => shardTableReplyOf({ ...reply, table: { keys: [{ s: [-1] }], n: [1] } as never })).toThrow("needs strings, keys and n arrays");
    expect(() => shardTableReplyOf({ ...reply, table: { strings: [], keys: [{ v: [1] }], n: ["3"] } as never })).toThrow('count "3" is not a number');
    expect(() => shardTableReplyOf({ ...reply, table: { strings: [], keys: [{}], n: [1] } as never })).toThrow("neither strings nor values");
    const good = { ...reply, table: { strings: ["a"], keys: [{ s: [0, -1] }], n: [1, 2] } };
    expect(shardTableReplyOf(good)).toBe(good);
  });

  // The gateway merges count-only tables by column; it must answer exactly as the rows' merge.
  test("tables merged by column give the rows' merge: strings, numbers, nulls, mixed columns, top-k, overflow", () => {
    const draw = new Draw(seeded(29));
    let checked = 0;
    for (let round = 0; round < 400; round++) {
      // A quarter of the rounds are wide, with many distinct values: their key ids no longer fit one number, and are joined as text.
      const wide = round % 4 === 3;
      const width = wide ? 6 + draw.int(3) : draw.int(4);
      const kinds = Array.from({ length: width }, () => draw.pick(["string", "number", "mixed"] as const));
      // Few distinct values, so shards share groups; "1" and 1, "" and null must stay apart.
      const value = (kind: (typeof kinds)[number]) => {
        if (draw.chance(0.1)) return null;
        if (wide && draw.chance(0.7)) return draw.chance(0.5) ? draw.int(400) : `s${draw.int(400)}`;
        if (kind === "number" || (kind === "mixed" && draw.chance(0.5))) return draw.pick([0, 1, -1, 2.5, 60_000_000, 1e15]);
        return draw.pick(["a", "b", "", "1", "0", "é ü", "svc-1"]);
      };
      const spec: AggregateSpec = { groupBy: kinds.map((_, at) => ({ metadata: [`k${at}`] })), functions: [], ...(draw.chance(0.3) ? { top: 1 + draw.int(5) } : {}) };
      // Some shards have no groups at all (a table of no key columns): they must not change the merge.
      const shards = Array.from({ length: 1 + draw.int(6) }, () => ({
        rows: draw.chance(0.15) ? [] : Array.from({ length: (wide ? 100 : 0) + draw.int(40) }, () => ({ key: kinds.map(value), n: 1 + draw.int(1e6), f: [] })),
        overflow: draw.chance(0.1),
      }));
      // Keys equal within a shard are summed there first, as a shard's GROUP BY does.
      const grouped = shards.map((shard) => ({ rows: addCountRows(shard.rows), overflow: shard.overflow }));
      const tables = grouped.map((shard) => ({ table: JSON.parse(JSON.stringify(rowsToWire(shard.rows))), overflow: shard.overflow }));
      const byTables = aggregateResponse(spec, mergeAggregateTables(spec, tables));
      expect(byTables).toEqual(aggregateResponse(spec, mergeAggregateRows(spec, grouped)));
      checked += (byTables.buckets as unknown[]).length;
    }
    expect(checked).toBeGreaterThan(1000);
  });

  test("tables with function states merge as rows", () => {
    const spec: AggregateSpec = { groupBy: [{ name: "service" }], functions: [{ fn: "max", field: { metadata: ["duration_ms"] } }] };
    const rows = (n: number, max: number) => [{ key: ["api"], n, f: [max] }];
    const merged = mergeAggregateTables(spec, [
      { table: rowsToWire(rows(2, 40)), overflow: false },
      { table: rowsToWire(rows(3, 70)), overflow: true },
    ]);
    expect(aggregateResponse(spec, merged)).toEqual(aggregateResponse(spec, mergeAggregateRows(spec, [{ rows: rows(2, 40), overflow: false }, { rows: rows(3, 70), overflow: true }])));
    expect(merged.groups).toHaveLength(1);
    expect(merged.groups[0].n).toBe(5);
    expect(merged.overflow).toBe(true);
  });
});
