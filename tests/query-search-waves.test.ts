// Goal: a newest- (or oldest-) first search reads a shard's segments in waves and stops
// once no further segment can place a row in the page, giving exactly the page a
// single scan of everything gives, and every event exactly once when paged by cursor.
// Method: the pure planner on made-up segments; then runShardQuery over six real
// Parquet segments of disjoint hours and a mem table, in real DuckDB, with a small
// wave size, against the same search in one wave.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import type { DuckDBConnection } from "@duckdb/node-api";
import { QUERY_PROTOCOL_VERSION, type ShardQueryReply, type ShardSearchRequest } from "../src/protocol/query-messages.ts";
import type { Cursor, SearchOrder } from "../src/query/filter.ts";
import { pageSettled, planSearchWaves, type WaveSegment } from "../src/query/search-waves.ts";
import { runShardQuery } from "../src/query/shard-query.ts";
import { Duck, execute } from "../src/storage/duckdb.ts";
import type { SegmentMeta } from "../src/storage/manifest.ts";
import { dataPaths, sqlPathLiteral } from "../src/storage/paths.ts";
import type { StoreSnapshot } from "../src/storage/shard-store.ts";
import { tempDir } from "./helpers/processes.ts";

describe("planning waves", () => {
  const segments: WaveSegment[] = [
    { minTs: 0, maxTs: 10, rows: 5 },
    { minTs: 20, maxTs: 30, rows: 5 },
    { minTs: 5, maxTs: 25, rows: 5 },
    { minTs: 40, maxTs: 50, rows: 20 },
  ];

  test("newest first by latest time, oldest first by earliest, each wave at least the wave size", () => {
    expect(planSearchWaves(segments, "newest", 10)).toEqual([[3], [1, 2], [0]]);
    expect(planSearchWaves(segments, "oldest", 10)).toEqual([[0, 2], [1, 3]]);
    expect(planSearchWaves(segments, "newest", 1_000)).toEqual([[3, 1, 2, 0]]);
    expect(planSearchWaves([], "newest", 10)).toEqual([]);
  });

  test("a page is settled only when every later segment is strictly on the far side of its last row", () => {
    const waves = planSearchWaves(segments, "newest", 10);
    expect(pageSettled(segments, waves, 1, 31, "newest")).toBe(true);
    // A segment reaching the last row's time may hold a row that ties and sorts before it by id.
    expect(pageSettled(segments, waves, 1, 30, "newest")).toBe(false);
    expect(pageSettled(segments, waves, 2, 11, "newest")).toBe(true);
    const oldest = planSearchWaves(segments, "oldest", 10);
    expect(pageSettled(segments, oldest, 1, 19, "oldest")).toBe(true);
    expect(pageSettled(segments, oldest, 1, 20, "oldest")).toBe(false);
    expect(pageSettled(segments, waves, 3, 0, "newest")).toBe(true);
  });
});

describe("searching in waves", () => {
  const root = tempDir("search-waves");
  const paths = dataPaths(root.path);
  const HOUR_US = 3_600_000_000;
  const SEGMENTS = 6;
  const ROWS = 3_000;
  let duck: Duck;
  let connection: DuckDBConnection;
  const metas: SegmentMeta[] = [];

  /** Rows of hour `hour`: ts inside it, a third of them ERROR, some ts equal across segments' edges. */
  const rowsSql = (hour: number, from: number, count: number) =>
    `SELECT ${hour} * ${HOUR_US} + (i * 1000000) AS ts, i AS ingest_ts, ${hour} * 100000 + i AS seq, 0::UINTEGER AS idx, 'default' AS tenant, (CASE WHEN i % 3 = 0 THEN 4 ELSE 2 END)::UTINYINT AS level, CASE WHEN i % 2 = 0 THEN 'api' ELSE 'db' END AS service, 'h' AS hostname, '' AS trace_id, '' AS span_id, 'event ' || i AS message, '{}' AS metadata FROM range(${from}, ${from + count}) t(i)`;

  beforeAll(async () => {
    duck = await Duck.open({ dataDir: root.path, memoryLimit: "512MB", threads: 2 });
    connection = await duck.connect();
    for (let hour = 0; hour < SEGMENTS; hour++) {
      const file = join(root.path, `seg-${hour}.parquet`);
      await execute(connection, `COPY (${rowsSql(hour, 0, ROWS)} ORDER BY ts) TO ${sqlPathLiteral(paths, file)} (FORMAT parquet)`);
      metas.push({ file, rows: ROWS, bytes: 0, minTs: hour * HOUR_US, maxTs: hour * HOUR_US + (ROWS - 1) * 1_000_000, minSeq: 0, maxSeq: 0, tenants: ["default"], createdAtMs: 0, level: 0 });
    }
    // The memtable part holds late rows of hour 2: it is read in the first wave whatever its times.
    await execute(connection, `COPY (${rowsSql(2, ROWS, 50)}) TO ${sqlPathLiteral(paths, join(root.path, "mem-1.parquet"))} (FORMAT parquet)`);
  });

  afterAll(() => {
    connection?.closeSync();
    duck?.close();
    root.remove();
  });

  const snapshot = (): StoreSnapshot => ({
    memtableParts: [sqlPathLiteral(paths, join(root.path, "mem-1.parquet"))],
    newestTs: () => Infinity,
    // Manifest order is not time order: the planner sorts.
    segments: [3, 0, 5, 1, 4, 2].map((index) => ({ segment: metas[index], ranges: null, path: metas[index].file })),
    segmentsTotal: SEGMENTS,
    segmentsSkipped: 0,
    segmentsSkippedByIndex: 0,
    tableRows: 50,
    release: () => undefined,
  });

  const search = async (order: SearchOrder, limit: number, waveRows: number, cursor?: Cursor): Promise<Extract<ShardQueryReply, { kind: "search" }>> => {
    const request: ShardSearchRequest = {
      v: QUERY_PROTOCOL_VERSION,
      id: "q",
      timeoutMs: 10_000,
      kind: "search",
      tenant: "default",
      filter: { services: ["api"], levels: ["ERROR"], hostnames: [], traceIds: [], query: null },
      limit,
      order,
      ...(cursor ? { cursor } : {}),
    };
    const reply = await runShardQuery(connection, paths, 0, snapshot(), request, { waveRows });
    if (!reply.ok || reply.kind !== "search") throw new Error(JSON.stringify(reply));
    return reply;
  };

  test.each<SearchOrder>(["newest", "oldest"])("the first page (%s first) is the one a single scan gives, after reading far fewer rows", async (order) => {
    const waved = await search(order, 100, ROWS);
    const whole = await search(order, 100, 1e9);
    expect(waved.rows.map((row) => row.id)).toEqual(whole.rows.map((row) => row.id));
    expect(waved.rows).toHaveLength(100);
    expect(whole.rowsScanned).toBe(SEGMENTS * ROWS + 50);
    // The mem table and the newest (oldest) segment hold the page; the next wave is never read.
    expect(waved.rowsScanned).toBe(ROWS + 50);
  });

  test("paging by cursor in waves returns every matching event exactly once, in order", async () => {
    const seen: string[] = [];
    let cursor: Cursor | undefined;
    for (let page = 0; page < 100; page++) {
      const reply = await search("newest", 70, ROWS, cursor);
      seen.push(...reply.rows.map((row) => `${row.timestampUs}/${row.id}`));
      if (reply.rows.length < 70) break;
      const last = reply.rows[reply.rows.length - 1];
      cursor = { ts: last.timestampUs, id: last.id };
    }
    // api (even i) and ERROR (i % 3 = 0): i % 6 = 0, per hour over ROWS rows, plus the mem table's late rows of hour 2.
    const expected = SEGMENTS * (ROWS / 6) + Array.from({ length: 50 }, (_, at) => ROWS + at).filter((i) => i % 6 === 0).length;
    expect(seen).toHaveLength(expected);
    expect(new Set(seen).size).toBe(expected);
    const times = seen.map((entry) => Number(entry.split("/")[0]));
    expect(times.every((ts, at) => at === 0 || times[at - 1] >= ts)).toBe(true);
  });
});
