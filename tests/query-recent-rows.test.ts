// Goal: a search whose filter names only tenant, service, level and time finds its page
// among a shard's recent rows in memory (their ordering and stream columns) and gives
// exactly the page DuckDB gives over the same files: newest and oldest first, with
// cursors and time ranges, by its ordering columns only and whole. The recent rows of a
// memtable part, a joined part and a sealed segment are the rows of their files in
// file order; a compaction's output has none; the rows held stay under their bound.
// Method: the pure scan against a brute-force sort over random rows; then a real store
// (real DuckDB, real Parquet files) fed through RowBuffer as the partition actor feeds
// it, each search run through runShardQuery on a snapshot as taken and on the same
// snapshot with its recent rows taken away.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LEVELS, type Level, type NormalizedEvent } from "../src/protocol/event.ts";
import { QUERY_PROTOCOL_VERSION, type ShardSearchRequest } from "../src/protocol/query-messages.ts";
import { parseQuery } from "../src/query/parser.ts";
import type { QueryNode } from "../src/query/ast.ts";
import type { Cursor, SearchFilter, SearchOrder } from "../src/query/filter.ts";
import { recentPlan, searchRecent, type RecentMatch } from "../src/query/recent-search.ts";
import { runShardQuery } from "../src/query/shard-query.ts";
import { skipTree } from "../src/query/skip-keys.ts";
import { Duck, queryRows } from "../src/storage/duckdb.ts";
import { MEMTABLE_JOIN_PARTS, RECENT_ROWS_MAX } from "../src/storage/limits.ts";
import { dataPaths, sqlPathLiteral } from "../src/storage/paths.ts";
import { RecentRows } from "../src/storage/recent-rows.ts";
import { ShardStore, type StoreSnapshot } from "../src/storage/shard-store.ts";
import { StorageWorkScheduler } from "../src/storage/work-scheduler.ts";
import { COLUMN_NAMES, eventId, levelIndex, rowToEvent } from "../src/storage/schema.ts";
import { PART_CHECKPOINT_ROWS, PartReadError, readPartRows } from "../src/storage/memtable-part-rows.ts";
import { tempDir } from "./helpers/processes.ts";
import { Draw, seeded } from "./helpers/random.ts";

/** A query the tests write, parsed (it must parse). */
function parsed(text: string): QueryNode | null {
  const result = parseQuery(text);
  if (!result.ok) throw new Error(`${text}: ${JSON.stringify(result)}`);
  return result.query;
}

const none: SearchFilter = { services: [], levels: [], hostnames: [], traceIds: [], query: null };
const SERVICES = ["api", "db", "auth", "web"];
const TENANTS = ["default", "other"];

/** Random rows: times in a narrow range (so ties happen), a few streams, every level. */
function randomBlock(draw: Draw, rows: number): RecentRows {
  const streams = TENANTS.flatMap((tenant) => SERVICES.map((service) => ({ tenant, service })));
  const ts = Float64Array.from({ length: rows }, () => 1_000_000 + draw.int(200));
  const ingestTs = Float64Array.from({ length: rows }, () => 5_000 + draw.int(3));
  const seq = Float64Array.from({ length: rows }, () => draw.int(4));
  const idx = Uint32Array.from({ length: rows }, (_, row) => row);
  const level = Uint8Array.from({ length: rows }, () => draw.int(LEVELS.length));
  const stream = Uint32Array.from({ length: rows }, () => draw.int(streams.length));
  return new RecentRows(ts, ingestTs, seq, idx, level, stream, streams);
}

/** What the SQL would answer: every matching row, sorted by (ts, ingest_ts, seq, idx) in the order, the first `limit`. */
function bruteForce(blocks: readonly RecentRows[], tenant: string, matches: (service: string, level: Level) => boolean, filter: SearchFilter, order: SearchOrder, limit: number, after?: RecentMatch): RecentMatch[] {
  const all: RecentMatch[] = [];
  blocks.forEach((block, blockNumber) => {
    for (let row = 0; row < block.rows; row++) {
      const stream = block.streams[block.stream[row]];
      if (stream.tenant !== tenant || !matches(stream.service, LEVELS[block.level[row]])) continue;
      if (filter.fromUs !== undefined && block.ts[row] < filter.fromUs) continue;
      if (filter.toUs !== undefined && block.ts[row] >= filter.toUs) continue;
      all.push({ block: blockNumber, row, ts: block.ts[row], ingestTs: block.ingestTs[row], seq: block.seq[row], idx: block.idx[row] });
    }
  });
  const key = (match: RecentMatch) => [match.ts, match.ingestTs, match.seq, match.idx];
  const compare = (a: RecentMatch, b: RecentMatch) => {
    const [x, y] = [key(a), key(b)];
    for (let at = 0; at < 4; at++) if (x[at] !== y[at]) return order === "newest" ? y[at] - x[at] : x[at] - y[at];
    return 0;
  };
  return all
    .filter((match) => !after || compare(match, after) > 0)
    .sort(compare)
    .slice(0, limit);
}

describe("searchRecent (pure)", () => {
  test("only filters on tenant, service, level and time are planned", () => {
    expect(recentPlan("default", none, "newest")).not.toBeNull();
    expect(recentPlan("default", { ...none, services: ["api"], levels: ["ERROR"] }, "newest")).not.toBeNull();
    expect(recentPlan("default", { ...none, query: parsed("service:api* AND (level:>=WARN OR NOT service:db)") }, "oldest")).not.toBeNull();
    expect(recentPlan("default", { ...none, hostnames: ["h"] }, "newest")).toBeNull();
    expect(recentPlan("default", { ...none, traceIds: ["t"] }, "newest")).toBeNull();
    expect(recentPlan("default", { ...none, eventIds: [eventId(1, 2, 3)] }, "newest")).toBeNull();
    for (const q of ["timeout", "hostname:h", "trace_id:abc", "metadata.a:1", "metadata.n:>5", "service:api AND timeout"]) {
      expect(recentPlan("default", { ...none, query: parsed(q) }, "newest")).toBeNull();
    }
    // A cursor that is not an event id is left to the SQL path, which answers it with its error.
    expect(recentPlan("default", none, "newest", { ts: 1, id: "nope" })).toBeNull();
  });

  test("the page equals a brute-force sort of every matching row, in both orders, with cursors, time ranges and bounds", () => {
    const draw = new Draw(seeded(7));
    const queries: [string | null, (service: string, level: Level) => boolean][] = [
      [null, () => true],
      ["service:api level:ERROR", (service, level) => service === "api" && level === "ERROR"],
      ["level:>=WARN", (_, level) => levelIndex(level) >= levelIndex("WARN")],
      ["service:a* OR level:DEBUG", (service, level) => service.startsWith("a") || level === "DEBUG"],
      ["NOT service:db AND NOT level:INFO", (service, level) => service !== "db" && level !== "INFO"],
    ];
    for (let round = 0; round < 60; round++) {
      const blocks = Array.from({ length: 1 + draw.int(4) }, () => randomBlock(draw, draw.int(400)));
      const [q, matchesQuery] = draw.pick(queries);
      const services = draw.chance(0.3) ? ["web", "auth"] : [];
      const levels: Level[] = draw.chance(0.3) ? ["ERROR", "WARN"] : [];
      const filter: SearchFilter = {
        ...none,
        services,
        levels,
        query: q === null ? null : parsed(q),
        fromUs: draw.chance(0.5) ? 1_000_000 + draw.int(100) : undefined,
        toUs: draw.chance(0.5) ? 1_000_100 + draw.int(100) : undefined,
      };
      const tenant = draw.pick(TENANTS);
      const order: SearchOrder = draw.chance(0.5) ? "newest" : "oldest";
      const limit = draw.pick([1, 5, 50, 1_000]);
      const matches = (service: string, level: Level) => (services.length === 0 || services.includes(service)) && (levels.length === 0 || levels.includes(level)) && matchesQuery(service, level);
      const expected = bruteForce(blocks, tenant, matches, filter, order, limit);
      const { matches: found, scanned } = searchRecent(blocks, recentPlan(tenant, filter, order)!, limit);
      expect(found).toEqual(expected);
      expect(scanned).toBe(blocks.reduce((sum, block) => sum + block.rows, 0));
      // The next page from the last row as a cursor continues exactly where the brute force does.
      const last = expected[expected.length - 1];
      if (last) {
        const cursor: Cursor = { ts: last.ts, id: eventId(last.ingestTs, last.seq, last.idx) };
        const next = searchRecent(blocks, recentPlan(tenant, filter, order, cursor)!, limit).matches;
        expect(next).toEqual(bruteForce(blocks, tenant, matches, filter, order, limit, last));
      }
    }
  });

  test("joined blocks keep each row's stream when the blocks number their streams differently", () => {
    const a = new RecentRows(Float64Array.of(1, 2), Float64Array.of(0, 0), Float64Array.of(0, 0), Uint32Array.of(0, 1), Uint8Array.of(4, 2), Uint32Array.of(0, 1), [{ tenant: "t", service: "x" }, { tenant: "t", service: "y" }]);
    const b = new RecentRows(Float64Array.of(3), Float64Array.of(0), Float64Array.of(1), Uint32Array.of(0), Uint8Array.of(4), Uint32Array.of(0), [{ tenant: "t", service: "y" }]);
    const joined = RecentRows.concat([a, b]);
    expect([...joined.ts]).toEqual([1, 2, 3]);
    expect([...joined.stream].map((number) => joined.streams[number].service)).toEqual(["x", "y", "y"]);
    expect(joined.streams).toHaveLength(2);
  });
});

describe("recent rows in a store", () => {
  const root = tempDir("recent-rows");
  const paths = dataPaths(mkdtempSync(join(root.path, "data-")));
  let duck: Duck;
  let store: ShardStore;
  const draw = new Draw(seeded(11));
  const baseUs = 1_800_000_000_000_000;
  let seq = 0;

  /** One WAL message of `count` rows: times jittered (out of order across messages), two tenants, four services, every level. */
  function appendMessage(count: number): void {
    const rows = store.pendingRowBuffer;
    const tenant = draw.chance(0.8) ? "default" : "other";
    rows.beginMessage(baseUs + seq * 1000, ++seq, tenant);
    const events: NormalizedEvent[] = Array.from({ length: count }, () => ({
      timestampUs: baseUs + seq * 1_000_000 + draw.int(3_000_000),
      level: draw.pick(LEVELS),
      // A leading U+FEFF is part of a value, as DuckDB keeps it: never a byte-order mark to drop.
      service: draw.chance(0.05) ? "\ufeffapi" : draw.pick(SERVICES),
      hostname: `host-${draw.int(3)}`,
      traceId: draw.chance(0.5) ? "" : `trace-${draw.int(1_000_000)}`,
      spanId: "",
      // Multi-byte UTF-8 and empty values, so a value's length prefix counts bytes, not characters.
      message: draw.chance(0.3) ? `message ${seq} ✓ ünïcödé 日本 ${"x".repeat(draw.int(300))}` : draw.chance(0.1) ? "" : draw.chance(0.1) ? `\ufeffmessage ${seq}` : `message ${seq}`,
      metadata: draw.chance(0.5) ? "{}" : JSON.stringify({ duration_ms: draw.int(1000), path: "/ä" }),
    }));
    events.forEach((event, index) => rows.appendEvent(event, index, event.timestampUs));
    store.append({ rows: count, seq, storedMs: Date.now() });
  }

  async function flushes(count: number): Promise<void> {
    for (let flush = 0; flush < count; flush++) {
      appendMessage(20 + draw.int(60));
      await store.flush();
    }
  }

  beforeAll(async () => {
    duck = await Duck.open({ dataDir: root.path, memoryLimit: "512MB", threads: 2 });
    store = await ShardStore.open({
      shard: 0,
      paths,
      duck,
      sealRowsMax: 1_000_000,
      sealAgeMs: 3_600_000,
      sealBytesMax: 1 << 30,
      flushIntervalMs: 3_600_000,
      compaction: { minSegments: 3, rowsTarget: 1_000_000 },
      scheduler: new StorageWorkScheduler(2),
    });
    // Three sealed segments (compacted into one with no recent rows), two more sealed after, and a memtable with joined and single parts.
    for (let segment = 0; segment < 3; segment++) {
      await flushes(MEMTABLE_JOIN_PARTS + 3);
      await store.seal();
    }
    expect(await store.compact()).toBe(true);
    for (let segment = 0; segment < 2; segment++) {
      await flushes(MEMTABLE_JOIN_PARTS * 2 + 1);
      await store.seal();
    }
    await flushes(MEMTABLE_JOIN_PARTS + 2);
  });

  afterAll(async () => {
    await store?.close();
    duck?.close();
    root.remove();
  });

  /** A file's ordering and stream columns in file order, as DuckDB reads them. */
  async function fileRows(literal: string): Promise<{ ts: number; ingestTs: number; seq: number; idx: number; level: number; tenant: string; service: string }[]> {
    const connection = await duck.connect();
    try {
      const rows = await queryRows(connection, `SELECT ts, ingest_ts, seq, idx, level, tenant, service FROM read_parquet(${literal}, file_row_number = true) ORDER BY file_row_number`);
      return rows.map((row) => ({ ts: Number(row.ts), ingestTs: Number(row.ingest_ts), seq: Number(row.seq), idx: Number(row.idx), level: Number(row.level), tenant: String(row.tenant), service: String(row.service) }));
    } finally {
      connection.closeSync();
    }
  }

  function recentAsRows(recent: RecentRows) {
    return Array.from({ length: recent.rows }, (_, row) => ({
      ts: recent.ts[row],
      ingestTs: recent.ingestTs[row],
      seq: recent.seq[row],
      idx: recent.idx[row],
      level: recent.level[row],
      tenant: recent.streams[recent.stream[row]].tenant,
      // Stream names are the stored bytes (SQL matches them so); @duckdb/node-api's strings drop a leading U+FEFF.
      service: recent.streams[recent.stream[row]].service.replace(/^\ufeff/, ""),
    }));
  }

  test("parts, joined parts and sealed segments hold their files' rows in file order; a compaction's output holds none", async () => {
    const snapshot = store.snapshot({ tenant: "default" });
    try {
      expect(snapshot.memtableFiles?.every((file) => file.recent !== undefined && file.layout !== undefined)).toBe(true);
      // Joined parts are among them: fewer parts than flushes.
      expect(snapshot.memtableParts.length).toBeLessThan(MEMTABLE_JOIN_PARTS + 2);
      for (const [index, literal] of snapshot.memtableParts.entries()) expect(recentAsRows(snapshot.memtableFiles![index].recent!)).toEqual(await fileRows(literal));
      const held = snapshot.segments.filter((read) => read.recent !== undefined);
      expect(held).toHaveLength(2);
      for (const read of held) expect(recentAsRows(read.recent!)).toEqual(await fileRows(sqlPathLiteral(paths, read.path)));
      const compacted = snapshot.segments.filter((read) => read.recent === undefined);
      expect(compacted).toHaveLength(1);
      expect(compacted[0].segment.level).toBeGreaterThan(0);
    } finally {
      snapshot.release();
    }
  });

  test("a part's rows read from its file equal DuckDB's, every column, at any positions; a short file is an error", async () => {
    const snapshot = store.snapshot({ tenant: "default" });
    try {
      let compared = 0;
      let spanning = 0;
      for (const [index, file] of (snapshot.memtableFiles ?? []).entries()) {
        const connection = await duck.connect();
        const expected = await queryRows(connection, `SELECT ${COLUMN_NAMES} FROM read_parquet(${snapshot.memtableParts[index]}, file_row_number = true) ORDER BY file_row_number`);
        connection.closeSync();
        const positions = Array.from({ length: file.rows }, (_, row) => row).filter(() => draw.chance(0.5));
        // With its checkpoints (every PART_CHECKPOINT_ROWS values of a string column) and without.
        expect(file.layout?.checkpoints.filter(Boolean)).toHaveLength(7);
        for (const checkpoints of [file.layout!.checkpoints, []]) {
          const read = readPartRows(file.path, { ranges: file.layout!.ranges, checkpoints }, file.rows, positions);
          expect(read.map(rowToEvent)).toEqual(positions.map((position) => rowToEvent(expected[position])));
        }
        if (file.rows > 2 * PART_CHECKPOINT_ROWS) spanning++;
        compared += positions.length;
        // Only the columns asked for are read.
        expect(Object.keys(readPartRows(file.path, file.layout!, file.rows, [0], new Set(["ts", "message"]))[0]).sort()).toEqual(["message", "ts"]);
      }
      expect(compared).toBeGreaterThan(100);
      // Joined parts span several checkpoints.
      expect(spanning).toBeGreaterThan(0);
      const file = snapshot.memtableFiles![0];
      const short = join(root.path, "short.parquet");
      writeFileSync(short, readFileSync(file.path).subarray(0, file.layout!.ranges[10].start + 10));
      expect(() => readPartRows(short, file.layout!, file.rows, [file.rows - 1])).toThrow(PartReadError);
      expect(() => readPartRows(file.path, file.layout!, file.rows, [file.rows])).toThrow(PartReadError);
      expect(() => readPartRows(file.path, file.layout!, file.rows, [2, 1])).toThrow(PartReadError);
    } finally {
      snapshot.release();
    }
  });

  test("every page equals DuckDB's over the same files, keys only and whole, in both orders, through cursors", async () => {
    const connection = await duck.connect();
    try {
      const filters: SearchFilter[] = [
        { ...none, services: ["api"], levels: ["ERROR"] },
        { ...none, query: parsed("service:db level:>=WARN") },
        { ...none, query: parsed("(service:auth OR service:web) AND NOT level:INFO") },
        { ...none, levels: ["DEBUG"], fromUs: baseUs + 10_000_000, toUs: baseUs + 40_000_000 },
        { ...none, services: ["\ufeffapi"] },
        none,
      ];
      let compared = 0;
      for (const tenant of TENANTS) {
        for (const filter of filters) {
          for (const order of ["newest", "oldest"] as const) {
            for (const columns of [[] as string[], undefined, ["message", "level", "metadata"]]) {
              let cursor: Cursor | undefined;
              // Page through the first few pages; each must equal DuckDB's.
              for (let page = 0; page < 4; page++) {
                const request: ShardSearchRequest = { v: QUERY_PROTOCOL_VERSION, id: "t", timeoutMs: 10_000, kind: "search", tenant, filter, limit: 37, order, cursor, columns };
                const snapshot = store.snapshot({ tenant, fromUs: filter.fromUs, toUs: filter.toUs, skip: skipTree(filter) });
                try {
                  const withoutRecent: StoreSnapshot = { ...snapshot, memtableFiles: undefined, segments: snapshot.segments.map((read) => ({ ...read, recent: undefined })) };
                  const [fast, slow] = [await runShardQuery(connection, paths, 0, snapshot, request), await runShardQuery(connection, paths, 0, withoutRecent, request)];
                  if (!fast.ok || fast.kind !== "search" || !slow.ok || slow.kind !== "search") throw new Error("search failed");
                  expect(fast.rows).toEqual(slow.rows);
                  compared += fast.rows.length;
                  const last = fast.rows[fast.rows.length - 1];
                  if (!last || fast.rows.length < request.limit) break;
                  cursor = { ts: last.timestampUs, id: last.id };
                } finally {
                  snapshot.release();
                }
              }
            }
          }
        }
      }
      expect(compared).toBeGreaterThan(1_000);
    } finally {
      connection.closeSync();
    }
  });

  test("a keys-only page the recent rows settle reads no file, and a whole-row page only the files holding its rows", async () => {
    const connection = await duck.connect();
    const filter: SearchFilter = { ...none, services: ["api"], levels: ["ERROR"] };
    const snapshot = store.snapshot({ tenant: "default", skip: skipTree(filter) });
    try {
      const request: ShardSearchRequest = { v: QUERY_PROTOCOL_VERSION, id: "t", timeoutMs: 10_000, kind: "search", tenant: "default", filter, limit: 5, order: "newest", columns: [] };
      const recentRows = (snapshot.memtableFiles ?? []).reduce((sum, file) => sum + (file.recent?.rows ?? 0), 0) + snapshot.segments.reduce((sum, read) => sum + (read.recent?.rows ?? 0), 0);
      const keys = await runShardQuery(connection, paths, 0, snapshot, request);
      if (!keys.ok || keys.kind !== "search") throw new Error("search failed");
      expect(keys.rows).toHaveLength(5);
      // The newest rows are in the memtable and the newest segments, all held: the scan counts only them.
      expect(keys.rowsScanned).toBe(recentRows);
      const whole = await runShardQuery(connection, paths, 0, snapshot, { ...request, columns: undefined });
      if (!whole.ok || whole.kind !== "search") throw new Error("search failed");
      expect(whole.rows.map((row) => row.id)).toEqual(keys.rows.map((row) => row.id));
      expect(whole.rows.every((row) => row.service === "api" && row.level === "ERROR" && row.hostname.startsWith("host-"))).toBe(true);
    } finally {
      snapshot.release();
      connection.closeSync();
    }
  });

  test("a window asked for its first rows whole sends them whole, equal to a whole-row search's, and the rest by their ordering columns", async () => {
    const connection = await duck.connect();
    try {
      let whole = 0;
      const filters: SearchFilter[] = [{ ...none, services: ["api"], levels: ["ERROR"] }, { ...none, query: parsed("level:>=WARN") }, none];
      for (const filter of filters) {
        for (const order of ["newest", "oldest"] as const) {
          for (const columns of [undefined, ["message"]]) {
            const base: ShardSearchRequest = { v: QUERY_PROTOCOL_VERSION, id: "t", timeoutMs: 10_000, kind: "search", tenant: "default", filter, limit: 30, order };
            const snapshot = store.snapshot({ tenant: "default", skip: skipTree(filter) });
            try {
              const keys = await runShardQuery(connection, paths, 0, snapshot, { ...base, columns: [], wholeFirst: 12, wholeColumns: columns });
              const rows = await runShardQuery(connection, paths, 0, snapshot, { ...base, columns });
              const plain = await runShardQuery(connection, paths, 0, snapshot, { ...base, columns: [] });
              if (!keys.ok || keys.kind !== "search" || !rows.ok || rows.kind !== "search" || !plain.ok || plain.kind !== "search") throw new Error("search failed");
              // The same page, its first rows whole up to the first not in a memtable part (oldest first: the compacted segment's, none).
              const inParts = new Set((snapshot.memtableFiles ?? []).flatMap((file) => recentAsRows(file.recent!).map((row) => eventId(row.ingestTs, row.seq, row.idx))));
              const leading = rows.rows.findIndex((row) => !inParts.has(row.id));
              const count = keys.wholeRows ?? 0;
              expect(count).toBe(Math.min(12, leading < 0 ? rows.rows.length : leading));
              if (order === "oldest") expect(count).toBe(0);
              expect(keys.rows.map((row) => row.id)).toEqual(rows.rows.map((row) => row.id));
              expect(keys.rows.slice(0, count)).toEqual(rows.rows.slice(0, count));
              expect(keys.rows.slice(count)).toEqual(plain.rows.slice(count));
              whole += count;
            } finally {
              snapshot.release();
            }
          }
        }
      }
      expect(whole).toBeGreaterThan(50);
      // Without wholeFirst, none is whole.
      const snapshot = store.snapshot({ tenant: "default" });
      const reply = await runShardQuery(connection, paths, 0, snapshot, { v: QUERY_PROTOCOL_VERSION, id: "t", timeoutMs: 10_000, kind: "search", tenant: "default", filter: none, limit: 5, columns: [] });
      snapshot.release();
      expect(reply.ok && reply.kind === "search" && reply.wholeRows).toBeFalsy();
    } finally {
      connection.closeSync();
    }
  });

  test("the rows held stay under RECENT_ROWS_MAX: past it the oldest sealed segments let theirs go first", async () => {
    // Enough rows for several times the bound, sealed as they go.
    const target = 3 * RECENT_ROWS_MAX;
    let added = 0;
    while (added < target) {
      const rows = store.pendingRowBuffer;
      rows.beginMessage(baseUs + ++seq * 1000, seq, "default");
      for (let index = 0; index < 20_000; index++) rows.appendEvent({ timestampUs: baseUs + seq * 1_000_000 + index, level: "INFO", service: "api", hostname: "h", traceId: "", spanId: "", message: "m", metadata: "{}" }, index, baseUs + seq * 1_000_000 + index);
      store.append({ rows: 20_000, seq, storedMs: Date.now() });
      await store.flush();
      added += 20_000;
      if (added % 60_000 === 0) await store.seal();
    }
    const snapshot = store.snapshot({ tenant: "default" });
    try {
      const held = (snapshot.memtableFiles ?? []).reduce((sum, file) => sum + (file.recent?.rows ?? 0), 0) + snapshot.segments.reduce((sum, read) => sum + (read.recent?.rows ?? 0), 0);
      expect(held).toBeGreaterThan(0);
      expect(held).toBeLessThanOrEqual(RECENT_ROWS_MAX);
      expect(store.stats().recentRows).toBe(held);
      // The newest sealed segment keeps its rows; the oldest have let theirs go.
      const sealed = snapshot.segments;
      expect(sealed[sealed.length - 1].recent).toBeDefined();
      expect(sealed[0].recent).toBeUndefined();
    } finally {
      snapshot.release();
    }
  });
});
