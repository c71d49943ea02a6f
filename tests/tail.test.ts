// Goal: live tail over Server-Sent Events streams exactly the new events search
// would find for the same filter (same ids, same JSON), within 1 s of their ack, from
// every payload format; a client that stops reading is told it fell behind and is
// disconnected with its queue never past the bound; a client that goes away releases
// its session and the last one the tenant's JetStream consumer; the session bounds
// answer 503 / 429 with Retry-After; and close() ends every stream.
// Method: a real node (nats-server child, partition actors, HTTP API) for ingest and
// search; TailHubs in this process on the node's NATS, served by a test-only Bun.serve
// that calls hub.open the way the node's route will; clients over real sockets
// (fetch, and a raw TCP client that stops reading). Waits are conditions with deadlines.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import net from "node:net";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { errorResponse, HttpError } from "../src/http/errors.ts";
import { tenantOf } from "../src/http/routes.ts";
import { FORMAT_HEADER, HOSTNAME_HEADER, SERVICE_HEADER, tenantLaneFilters, WAL_STREAM, walSubject } from "../src/protocol/subjects.ts";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { compressWalPayload, CONTENT_ENCODING_HEADER } from "../src/protocol/wal-compression.ts";
import { parseFilter, QueryError } from "../src/query/filter.ts";
import { TailHub } from "../src/query/tail.ts";
import type { TailLimits } from "../src/query/tail-limits.ts";
import { countEvents, getJson, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const KEYS = { conform: "key-conform-0001", default: "key-default-0001", acme: "key-acme-0000001", slow: "key-slow-0000001", gone: "key-gone-0000001" } as const;
type Tenant = keyof typeof KEYS;
const API_KEYS: ReadonlyMap<string, string> = new Map(Object.entries(KEYS).map(([tenant, key]) => [key, tenant]));
const auth = (tenant: Tenant) => ({ authorization: `Bearer ${KEYS[tenant]}` });

const SHARDS = 2;
let node: TestNode;
let nc: NatsConnection;
let js: JetStreamClient;
let jsm: JetStreamManager;
const hubLog: string[] = [];

beforeAll(async () => {
  node = await startTestNode({ shards: SHARDS, extraArgs: ["--api-keys", Object.entries(KEYS).map(([tenant, key]) => `${key}:${tenant}`).join(",")] });
  nc = await connect({ servers: node.natsUrl });
  js = jetstream(nc);
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  await node?.stop();
});

/** A hub and a test-only HTTP server whose one route is the tail, as the node will wire it. */
async function startTailServer(limits: Partial<TailLimits> = {}, nowMs?: () => number) {
  const hub = new TailHub({ nc, js, jsm, log: (line) => void hubLog.push(line), limits, nowMs });
  const server = Bun.serve({
    port: 0,
    idleTimeout: 120,
    fetch: async (request) => {
      try {
        return await hub.open(tenantOf(request, API_KEYS), parseFilter(new URL(request.url).searchParams), request.signal);
      } catch (error) {
        if (error instanceof HttpError) return errorResponse(error);
        if (error instanceof QueryError) return errorResponse(new HttpError(error.status, error.code, error.message));
        throw error;
      }
    },
  });
  const port = Number(server.port);
  return {
    hub,
    url: `http://127.0.0.1:${port}`,
    port,
    async [Symbol.asyncDispose]() {
      await hub.close();
      await server.stop(true);
    },
  };
}

interface SseFrame {
  event: string;
  id?: string;
  data: string;
  /** performance.now() when the frame was parsed. */
  atMs: number;
}

/** Reads an SSE response as it arrives: frames, comments, and whether (and how) it ended. */
class SseReader {
  readonly frames: SseFrame[] = [];
  readonly comments: string[] = [];
  done = false;
  failure?: unknown;
  readonly finished: Promise<void>;

  constructor(response: Response) {
    this.finished = this.read(response.body!).then(
      () => void (this.done = true),
      (error) => {
        this.failure = error;
        this.done = true;
      },
    );
  }

  logs(): Record<string, unknown>[] {
    return this.frames.filter((frame) => frame.event === "log").map((frame) => JSON.parse(frame.data));
  }

  frame(event: string, what = `an ${event} frame`, timeoutMs = 10_000): Promise<SseFrame> {
    return waitFor(() => this.frames.find((frame) => frame.event === event), { what, timeoutMs, intervalMs: 5 });
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = "";
    for await (const chunk of body) {
      buffer += decoder.decode(chunk, { stream: true });
      for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
        this.parse(buffer.slice(0, end));
        buffer = buffer.slice(end + 2);
      }
    }
  }

  private parse(block: string): void {
    const frame: SseFrame = { event: "message", data: "", atMs: performance.now() };
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) this.comments.push(line.slice(1).trim());
      else if (line.startsWith("event: ")) frame.event = line.slice(7);
      else if (line.startsWith("id: ")) frame.id = line.slice(4);
      else if (line.startsWith("data: ")) frame.data += line.slice(6);
    }
    if (frame.data !== "") this.frames.push(frame);
  }
}

/** Opens a tail and waits for its ready frame; `abort` ends it from the client's side. */
async function openTail(baseUrl: string, tenant: Tenant, query = "") {
  const abort = new AbortController();
  const response = await fetch(`${baseUrl}/tail?${query}`, { headers: auth(tenant), signal: abort.signal });
  expect({ status: response.status, type: response.headers.get("content-type") }).toEqual({ status: 200, type: "text/event-stream; charset=utf-8" });
  const reader = new SseReader(response);
  await reader.frame("ready");
  return { reader, abort: () => abort.abort() };
}

async function ingest(tenant: Tenant, records: unknown[]): Promise<void> {
  const { status, body } = await getJson(`${node.httpUrl}/api/v1/logs`, { method: "POST", body: records.map((record) => JSON.stringify(record)).join("\n"), headers: { "content-type": "application/x-ndjson", ...auth(tenant) } });
  if (status !== 202) throw new Error(`ingest answered ${status}: ${JSON.stringify(body)}`);
}

/** Names of the WAL stream's consumers that belong to a tail of this hub's feeds (or any, without a prefix). */
async function tailConsumers(prefix = "sluice-tail-"): Promise<string[]> {
  const names: string[] = [];
  for await (const info of jsm.consumers.list(WAL_STREAM)) if (info.name.startsWith(prefix)) names.push(info.name);
  return names;
}

const BASE_US = Date.UTC(2026, 10, 1, 12) * 1000;

describe("what a tail streams", () => {
  // Every filter below matches the sentinel, published last on every shard: a tail
  // that has all of them has everything published before (a shard's events arrive in
  // stream order).
  const sentinel = { timestamp: BASE_US + 25_500, level: "error", service: "checkout", hostname: "host-1", trace_id: "trace-3", message: "declined sentinel", metadata: { amount: 99 } };
  const filters = [
    "",
    "service=checkout",
    "level=ERROR,WARN",
    `hostname=host-1&q=declined`,
    "trace_id=trace-3",
    `q=${encodeURIComponent("service:checkout -level:INFO")}`,
    `from=${BASE_US + 10_000}&to=${BASE_US + 40_000}`,
    `q=${encodeURIComponent("metadata.amount:>=50")}`,
  ];
  const record = (index: number) => ({
    timestamp: BASE_US + index * 1000,
    level: ["info", "warn", "error"][index % 3],
    service: index % 2 === 0 ? "checkout" : "search",
    hostname: `host-${index % 3}`,
    trace_id: `trace-${index % 5}`,
    message: index % 4 === 0 ? `payment declined ${index}` : `request ${index} served`,
    metadata: { amount: index, index },
  });

  test("each filter's tail holds exactly what search finds, with the same ids and JSON, from every payload format and no other tenant", async () => {
    await using server = await startTailServer();
    const tails = await Promise.all(filters.map((query) => openTail(server.url, "conform", query)));
    expect(server.hub.snapshot()).toMatchObject({ sessions: filters.length, tenants: 1 });

    // HTTP ingest (the gateway publishes FlatBuffers batches).
    await ingest("conform", Array.from({ length: 60 }, (_, index) => record(index)));
    const encoder = new TextEncoder();
    // NDJSON straight to the WAL, with a bad line the partition actor rejects.
    await js.publish(walSubject("conform", 0), encoder.encode([...Array.from({ length: 10 }, (_, index) => JSON.stringify(record(60 + index))), "{broken"].join("\n")));
    // A JSON array.
    await js.publish(walSubject("conform", 1), encoder.encode(JSON.stringify(Array.from({ length: 10 }, (_, index) => record(70 + index)))));
    // Text lines, service and host from headers.
    const textHeaders = natsHeaders();
    textHeaders.set(SERVICE_HEADER, "checkout");
    textHeaders.set(HOSTNAME_HEADER, "host-1");
    const lines = Array.from({ length: 10 }, (_, index) => `${new Date((BASE_US + (80 + index) * 1000) / 1000).toISOString()} ${index % 2 ? "ERROR" : "INFO"} payment declined text ${index}`);
    await js.publish(walSubject("conform", 0), encoder.encode(lines.join("\n")), { headers: textHeaders });
    // A FlatBuffers batch, and a corrupted one (stored by nobody, so tailed to nobody).
    const flat = Array.from({ length: 10 }, (_, index) => ({ timestampUs: BASE_US + (90 + index) * 1000, level: "WARN" as const, service: "checkout", hostname: "host-1", traceId: "trace-3", spanId: "s", message: `declined flat ${index}`, metadata: JSON.stringify({ amount: 90 + index }) }));
    await js.publish(walSubject("conform", 1), encodeBatch(flat));
    const corrupted = encodeBatch(flat.map((event) => ({ ...event, message: "corrupted" })));
    corrupted[corrupted.length - 20] ^= 0xff;
    await js.publish(walSubject("conform", 0), corrupted);
    // Compressed, as the SDK sends them: a gzip FlatBuffers batch and a zstd NDJSON message.
    const compressed = Array.from({ length: 10 }, (_, index) => ({ ...flat[index], timestampUs: BASE_US + (100 + index) * 1000, message: `declined gzip ${index}` }));
    const gzipHeaders = natsHeaders();
    gzipHeaders.set(CONTENT_ENCODING_HEADER, "gzip");
    await js.publish(walSubject("conform", 0), compressWalPayload(encodeBatch(compressed), "gzip"), { headers: gzipHeaders });
    const zstdHeaders = natsHeaders();
    zstdHeaders.set(CONTENT_ENCODING_HEADER, "zstd");
    zstdHeaders.set(FORMAT_HEADER, "ndjson");
    await js.publish(walSubject("conform", 1), compressWalPayload(encoder.encode(Array.from({ length: 10 }, (_, index) => JSON.stringify(record(110 + index))).join("\n")), "zstd"), { headers: zstdHeaders });
    // Another tenant's events that every filter would match.
    await ingest("acme", [sentinel, record(4)]);
    for (let shard = 0; shard < SHARDS; shard++) await js.publish(walSubject("conform", shard), encoder.encode(JSON.stringify(sentinel)));

    const total = 60 + 10 + 10 + 10 + 10 + 10 + 10 + SHARDS;
    const sentinels = (reader: SseReader) => reader.logs().filter((log) => log.message === "declined sentinel").length;
    await Promise.all(tails.map(({ reader }) => waitFor(() => sentinels(reader) === SHARDS, { what: "the sentinel of every shard" })));
    await waitFor(async () => (await countEvents(node.httpUrl, "", auth("conform"))) === total, { what: `${total} events searchable` });
    const byId = (a: Record<string, unknown>, b: Record<string, unknown>) => String(a.id).localeCompare(String(b.id));
    for (const [index, query] of filters.entries()) {
      const { status, body } = await getJson(`${node.httpUrl}/api/v1/logs/search?limit=1000&${query}`, { headers: auth("conform") });
      expect({ query, status, partial: body.partial }).toEqual({ query, status: 200, partial: false });
      const tailed = tails[index].reader.logs();
      expect(tailed.length).toBeGreaterThan(1);
      expect({ query, logs: [...tailed].sort(byId) }).toEqual({ query, logs: [...body.logs].sort(byId) });
    }
    // No event twice.
    const ids = tails[0].reader.logs().map((log) => String(log.id));
    expect(new Set(ids).size).toBe(ids.length);
  });

  test("an event acked after ready arrives within 1 s of its ack", async () => {
    await using server = await startTailServer();
    const { reader } = await openTail(server.url, "default", `q=${encodeURIComponent("latency-probe")}`);
    for (let round = 0; round < 5; round++) {
      const message = `latency-probe ${round}`;
      await ingest("default", [{ service: "latency", message }]);
      const ackedAtMs = performance.now();
      await waitFor(() => reader.frames.some((frame) => frame.event === "log" && JSON.parse(frame.data).message === message), { what: `round ${round}`, timeoutMs: 2_000, intervalMs: 5 });
      const arrived = reader.frames.find((frame) => frame.event === "log" && JSON.parse(frame.data).message === message)!;
      expect(arrived.atMs - ackedAtMs).toBeLessThan(1_000);
    }
    expect(reader.logs().map((log) => log.message)).toEqual([0, 1, 2, 3, 4].map((round) => `latency-probe ${round}`));
  });

  test("an idle stream gets a ping comment every heartbeat", async () => {
    await using server = await startTailServer({ heartbeatMs: 50 });
    const { reader } = await openTail(server.url, "default", "service=nothing-here");
    await waitFor(() => reader.comments.filter((comment) => comment === "ping").length >= 2, { what: "two pings", timeoutMs: 5_000 });
  });
});

describe("lanes", () => {
  const streamSubjects = ["sluice.wal.*.0", "sluice.wal.*.1", "sluice.wal.*.2"];
  test.each([
    ["2.10+: one consumer for every shard", true, [["sluice.wal.acme.0", "sluice.wal.acme.1", "sluice.wal.acme.2"]]],
    ["2.9: one consumer per shard", false, [["sluice.wal.acme.0"], ["sluice.wal.acme.1"], ["sluice.wal.acme.2"]]],
  ])("nats-server %s", (_, multipleFilters, expected) => {
    expect(tenantLaneFilters("acme", streamSubjects, multipleFilters)).toEqual(expected);
  });

  test("subjects that are not WAL shard subjects are not followed", () => {
    expect(tenantLaneFilters("acme", ["other.*.0", "sluice.wal.fixed.1", "sluice.wal.*.x"], true)).toEqual([]);
  });
});

describe("bounds and release", () => {
  test("a client that stops reading is told it fell behind and disconnected; its queue never passes the bound", async () => {
    const queueEventsMax = 20;
    await using server = await startTailServer({ queueEventsMax });
    // A raw client: it reads the response head and the ready frame, then stops reading.
    const socket = net.connect(server.port, "127.0.0.1");
    let received = "";
    let closed = false;
    socket.on("data", (chunk) => void (received += chunk.toString("latin1")));
    socket.on("close", () => void (closed = true));
    socket.write(`GET /tail?service=bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${KEYS.slow}\r\n\r\n`);
    await waitFor(() => received.includes("event: ready"), { what: "the ready frame" });
    socket.pause();

    // Large events fill the socket's buffers (several MB on loopback) and then the queue.
    const bulk = (batch: number) => Array.from({ length: 10 }, (_, index) => ({ service: "bulk", message: `${batch}.${index} ${"x".repeat(150_000)}` }));
    for (let batch = 0; batch < 60 && server.hub.snapshot().overflows === 0; batch++) await ingest("slow", bulk(batch));
    await waitFor(() => server.hub.snapshot().overflows === 1, { what: "the overflow" });
    const snapshot = server.hub.snapshot();
    expect({ sessions: snapshot.sessions, tenants: snapshot.tenants, overflows: snapshot.overflows }).toEqual({ sessions: 0, tenants: 0, overflows: 1 });
    expect(snapshot.queueEventsPeak).toBeLessThanOrEqual(queueEventsMax);
    await waitFor(async () => (await tailConsumers()).length === 0, { what: "the consumer deleted" });

    // Reading again, the client gets what was already in flight, the overflow, and the end.
    socket.resume();
    await waitFor(() => closed || received.endsWith("0\r\n\r\n"), { what: "the end of the stream" });
    socket.destroy();
    const ids = [...received.matchAll(/^id: ([0-9a-f]{30})$/gm)].map((match) => match[1]);
    const overflow = /event: overflow\ndata: (.*)\n\n/.exec(received);
    expect(overflow).not.toBeNull();
    expect(JSON.parse(overflow![1])).toMatchObject({ error: "fell_behind", reason: "client", dropped_after: ids[ids.length - 1] });
    // Everything the hub handed to the socket before the overflow reached the client, in order, then the overflow.
    expect(ids.length).toBe(snapshot.eventsSent);
    expect(received.indexOf("event: overflow")).toBeGreaterThan(received.lastIndexOf("event: log"));
  });

  test("a node whose feed is behind the WAL ends its tails as fallen behind rather than sending late", async () => {
    // The hub's clock runs a minute ahead: every message looks a minute old.
    await using server = await startTailServer({ feedLagMaxMs: 10_000 }, () => Date.now() + 60_000);
    const { reader } = await openTail(server.url, "gone");
    await ingest("gone", [{ service: "late", message: "too late" }]);
    const overflow = await reader.frame("overflow");
    await reader.finished;
    expect({ data: JSON.parse(overflow.data), logs: reader.logs(), failure: reader.failure }).toEqual({ data: { error: "fell_behind", reason: "node", dropped_after: null, message: "this node's tail is behind the WAL by more than 10000 ms" }, logs: [], failure: undefined });
    expect(server.hub.snapshot()).toMatchObject({ sessions: 0, feedsBehind: 1, overflows: 0 });
    expect(hubLog.splice(0)).toEqual([expect.stringContaining("tail: tenant gone's feed is")]);
  });

  test("a client that goes away releases its session, and the tenant's last one its consumer", async () => {
    await using server = await startTailServer();
    const first = await openTail(server.url, "gone");
    const second = await openTail(server.url, "gone", "level=ERROR");
    const [feed] = server.hub.snapshot().feeds;
    // nats-server 2.9 takes one filter subject per consumer: a consumer per shard there, one on 2.10+.
    expect({ tenant: feed.tenant, sessions: feed.sessions, consumers: (await tailConsumers(feed.consumerPrefix)).length }).toEqual({ tenant: "gone", sessions: 2, consumers: feed.consumers });
    expect([1, SHARDS]).toContain(feed.consumers);

    first.abort();
    await waitFor(() => server.hub.snapshot().sessions === 1, { what: "the first session released" });
    expect((await tailConsumers(feed.consumerPrefix)).length).toBe(feed.consumers);
    second.abort();
    await waitFor(() => server.hub.snapshot().sessions === 0, { what: "the second session released" });
    expect(server.hub.snapshot().tenants).toBe(0);
    await waitFor(async () => (await tailConsumers(feed.consumerPrefix)).length === 0, { what: "the consumer deleted" });
    await Promise.all([first.reader.finished, second.reader.finished]);
  });

  test("over the node's bound a tail is 503, over the tenant's 429, both with Retry-After", async () => {
    await using server = await startTailServer({ sessionsMax: 3, sessionsPerTenantMax: 2 });
    const acme = [await openTail(server.url, "acme"), await openTail(server.url, "acme")];
    const tenantOver = await getJson(`${server.url}/tail`, { headers: auth("acme") });
    expect({ status: tenantOver.status, code: tenantOver.body.error.code, retryAfter: tenantOver.headers.get("retry-after") }).toEqual({ status: 429, code: "too_many_tails", retryAfter: "5" });
    await openTail(server.url, "default");
    const nodeOver = await getJson(`${server.url}/tail`, { headers: auth("conform") });
    expect({ status: nodeOver.status, code: nodeOver.body.error.code, retryAfter: nodeOver.headers.get("retry-after") }).toEqual({ status: 503, code: "too_many_tails", retryAfter: "5" });
    expect(server.hub.snapshot()).toMatchObject({ sessions: 3, refused: 2 });
    // A slot freed is a slot taken.
    acme[0].abort();
    await waitFor(() => server.hub.snapshot().sessions === 2, { what: "a slot freed" });
    await openTail(server.url, "conform");
  });

  test("close ends every stream with a closed frame, deletes the consumers and refuses new tails", async () => {
    const server = await startTailServer();
    const tails = [await openTail(server.url, "acme"), await openTail(server.url, "default")];
    const prefixes = server.hub.snapshot().feeds.map((feed) => feed.consumerPrefix);
    expect(prefixes.length).toBe(2);
    await server.hub.close();
    for (const { reader } of tails) {
      await reader.finished;
      expect({ done: reader.done, failure: reader.failure, last: reader.frames.at(-1)?.event }).toEqual({ done: true, failure: undefined, last: "closed" });
    }
    for (const prefix of prefixes) expect(await tailConsumers(prefix)).toEqual([]);
    const refused = await getJson(`${server.url}/tail`, { headers: auth("acme") });
    expect({ status: refused.status, code: refused.body.error.code }).toEqual({ status: 503, code: "shutting_down" });
    await server[Symbol.asyncDispose]();
    expect(hubLog).toEqual([]);
  });
});
