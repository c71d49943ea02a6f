// Goal: a shard stops a query when its time budget runs out or when the gateway says
// the client went away (DuckDB's interrupt), answers why, and keeps serving after.
// Method: a real nats-server and a real DuckDB reading a 2M-row memtable part, so a
// grouped query runs for seconds; a ShardQueryServer reads it through a store stand-in
// that hands out snapshots of that part (the store itself is tested in storage tests).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { QUERY_PROTOCOL_VERSION, type ShardQueryReply, type ShardQueryRequest } from "../src/protocol/query-messages.ts";
import { shardReplyOf } from "./helpers/aggregate-wire.ts";
import { QUERY_CANCEL_SUBJECT, querySubject } from "../src/protocol/subjects.ts";
import { ShardQueryServer } from "../src/query/shard-query-server.ts";
import { Duck, execute } from "../src/storage/duckdb.ts";
import { dataPaths } from "../src/storage/paths.ts";
import type { ShardStore } from "../src/storage/shard-store.ts";
import { startTestNats, tempDir, type TestNats } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const root = tempDir("shard-server");
let nats: TestNats;
let nc: NatsConnection;
let duck: Duck;
let server: ShardQueryServer;

const PART = `${root.path}/tmp/shard-000.mem-1-1.parquet`;
/** Hands out snapshots of the one big part, as a ShardStore would of its memtable. */
const store = {
  snapshot: () => ({ memtableParts: [`'${PART}'`], segments: [], segmentsTotal: 0, segmentsSkipped: 0, segmentsSkippedByIndex: 0, tableRows: 2_000_000, release: () => undefined }),
} as unknown as ShardStore;

beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url });
  duck = await Duck.open({ dataDir: root.path, memoryLimit: "1GB", threads: 2 });
  const setup = await duck.connect();
  mkdirSync(`${root.path}/tmp`, { recursive: true });
  await execute(
    setup,
    "COPY (SELECT i AS ts, i AS ingest_ts, i AS seq, 0::UINTEGER AS idx, 'default' AS tenant, 2::UTINYINT AS level, 'api' AS service, 'h' || (i % 1000) AS hostname, md5(i::VARCHAR) AS trace_id, '' AS span_id, 'request ' || i || ' served ' || md5(i::VARCHAR) AS message, '{}' AS metadata FROM range(2000000) t(i)) TO '" + PART + "' (FORMAT parquet, COMPRESSION uncompressed)",
  );
  setup.closeSync();
  server = new ShardQueryServer({ nc, shard: 0, duck, paths: dataPaths(root.path), store: () => store, log: () => undefined });
  server.start();
});

afterAll(async () => {
  await server?.stop();
  await nc?.close();
  duck?.close();
  await nats?.stop();
  root.remove();
});

/** A grouped aggregate over every row with word terms: seconds of DuckDB work. */
function slowRequest(id: string, timeoutMs: number): ShardQueryRequest {
  const words = Array.from({ length: 16 }, (_, index) => ({ type: "text" as const, value: `zz${index}`, prefix: true }));
  return {
    v: QUERY_PROTOCOL_VERSION,
    id,
    timeoutMs,
    kind: "aggregate",
    tenant: "default",
    filter: { services: [], levels: [], hostnames: [], traceIds: [], query: { type: "not", child: { type: "or", children: words } } },
    spec: { groupBy: [{ name: "trace_id" }, { name: "hostname" }], functions: [{ fn: "count_distinct", field: { name: "span_id" } }, { fn: "p99", field: { metadata: ["x"] } }] },
  };
}

async function ask(request: ShardQueryRequest): Promise<ShardQueryReply> {
  return shardReplyOf((await nc.request(querySubject(0), JSON.stringify(request), { timeout: 60_000 })).json<ShardQueryReply>());
}

describe("time budget and cancellation", () => {
  test("a query past its budget is interrupted and answered timeout", async () => {
    const started = performance.now();
    const reply = await ask(slowRequest("budget", 50));
    expect(reply).toMatchObject({ ok: false, shard: 0, code: "timeout" });
    // Interrupted, not run to the end: well under the seconds the query needs.
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(server.counters.queriesTimedOut).toBe(1);
  });

  test("a cancel for a running query interrupts it; other ids are ignored", async () => {
    const pending = ask(slowRequest("gone", 60_000));
    await waitFor(() => server.activeQueries === 1, { what: "query running" });
    nc.publish(QUERY_CANCEL_SUBJECT, JSON.stringify({ id: "someone-else" }));
    nc.publish(QUERY_CANCEL_SUBJECT, "not json");
    nc.publish(QUERY_CANCEL_SUBJECT, JSON.stringify({ id: "gone" }));
    expect(await pending).toMatchObject({ ok: false, code: "cancelled" });
    expect(server.counters.queriesCancelled).toBe(1);
    await waitFor(() => server.activeQueries === 0, { what: "query slot released" });
  });

  test("the shard keeps answering after interrupts", async () => {
    const reply = await ask({ v: QUERY_PROTOCOL_VERSION, id: "after", timeoutMs: 30_000, kind: "search", tenant: "default", filter: { services: [], levels: [], hostnames: [], traceIds: ["c4ca4238a0b923820dcc509a6f75849b"], query: null }, limit: 5 });
    expect(reply.ok).toBe(true);
    expect(reply.ok && reply.kind === "search" ? reply.rows.map((row) => row.message) : []).toEqual(["request 1 served c4ca4238a0b923820dcc509a6f75849b"]);
  });

  test("requests without an id or budget, or of another version, are refused", async () => {
    const base = slowRequest("x", 1000);
    expect(await ask({ ...base, timeoutMs: 0 })).toMatchObject({ ok: false, code: "bad_request" });
    expect(await ask({ ...base, timeoutMs: 10 * 60_000 })).toMatchObject({ ok: false, code: "bad_request" });
    expect(await ask({ ...base, v: 1 })).toMatchObject({ ok: false, code: "bad_request", error: `query protocol version 1 is not ${QUERY_PROTOCOL_VERSION}` });
  });
});
