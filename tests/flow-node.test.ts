// Goal: a real node runs ingest flow control end to end: its health shows the flow
// state, and when it restarts onto a WAL backlog (producers kept publishing while it
// was down) it tells producers "pause" on the flow subject, then "open" once it has
// caught up, and in the end every published event is searchable exactly once.
// Method: a real nats-server the test controls (startTestNats) and a node on it
// (--nats-url, --ingest-lag-max-ms 50). The node is stopped gracefully, a backlog of
// FlatBuffers batches is published straight to the WAL stream with js.publish, and the
// node is restarted on the same data directory and NATS while the test listens on
// FLOW_SUBJECT. The backlog was stored before the restart, so the shards start out far
// more than 50 ms behind: the pause follows from the data, not from timing. Every wait
// is on a condition with a deadline.

import { afterAll, expect, test } from "bun:test";
import { hostname } from "node:os";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { parseFlowSignal, type FlowSignal } from "../src/protocol/flow.ts";
import { FLOW_SUBJECT, walSubject } from "../src/protocol/subjects.ts";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { countEvents, getJson, startTestNats, startTestNode, type TestNats, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const SHARDS = 4;
const LAG_MAX_MS = 50;
const BATCHES = 300;
const EVENTS_PER_BATCH = 1000;
const SERVICE = "flow-backlog";

let nats: TestNats | undefined;
let node: TestNode | undefined;
let nc: NatsConnection | undefined;
afterAll(async () => {
  await nc?.close();
  await node?.stop();
  await nats?.stop();
});

function batch(index: number): Uint8Array {
  const baseUs = Date.UTC(2026, 0, 1) * 1000 + index * EVENTS_PER_BATCH;
  const events: NormalizedEvent[] = Array.from({ length: EVENTS_PER_BATCH }, (_, offset) => ({
    timestampUs: baseUs + offset,
    level: offset % 10 === 0 ? "WARN" : "INFO",
    service: SERVICE,
    hostname: `host-${index % 7}`,
    traceId: `trace-${index}-${offset}`,
    spanId: "",
    message: `backlog batch ${index} event ${offset} while the node was down`,
    metadata: `{"batch":${index},"offset":${offset}}`,
  }));
  return encodeBatch(events);
}

function startNode(dataDir?: string): Promise<TestNode> {
  return startTestNode({ dataDir, natsUrl: nats!.url, shards: SHARDS, extraArgs: ["--ingest-lag-max-ms", String(LAG_MAX_MS)] });
}

test("restarting onto a WAL backlog: pause, then open, and every event is stored exactly once", async () => {
  nats = await startTestNats();
  node = await startNode();
  const first = await waitFor(async () => {
    const { status, body } = await getJson(`${node!.httpUrl}/api/v1/system/health`);
    return status === 200 && body.flow?.state === "open" ? body.flow : null;
  }, { timeoutMs: 10_000, what: "health to report flow open" });
  expect(first).toEqual({ name: "flow-controller", state: "open", lagMs: 0, pauseAtMs: LAG_MAX_MS, pauses: 0, pausedMs: 0, signals: expect.any(Number) });

  const dataDir = node.dataDir;
  expect(await node.stop()).toBe(0);
  node = undefined;

  // The backlog, stored while no node consumes it.
  nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  for (let start = 0; start < BATCHES; start += 25) {
    const acks = await Promise.all(Array.from({ length: Math.min(25, BATCHES - start) }, (_, offset) => js.publish(walSubject("default", (start + offset) % SHARDS), batch(start + offset), { timeout: 10_000 })));
    expect(acks.every((ack) => ack.duplicate === false)).toBe(true);
  }

  const heard: FlowSignal[] = [];
  const malformed: string[] = [];
  nc.subscribe(FLOW_SUBJECT, {
    callback: (_error, message) => {
      const parsed = parseFlowSignal(message.string());
      if (parsed.ok) heard.push(parsed.signal);
      else malformed.push(parsed.error);
    },
  });
  await nc.flush();

  node = await startNode(dataDir);
  const nodeId = `${hostname()}:${node.pid}`;
  const fromNode = () => heard.filter((signal) => signal.node === nodeId);
  const firstPause = await waitFor(() => fromNode().findIndex((signal) => signal.state === "pause") + 1, { timeoutMs: 15_000, what: "a pause signal from the restarted node" }) - 1;
  const pause = fromNode()[firstPause]!;
  expect(pause).toEqual({ v: 1, node: nodeId, state: "pause", lagMs: expect.any(Number), retryAfterMs: expect.any(Number), ttlMs: 3_000 });
  expect(pause.lagMs).toBeGreaterThanOrEqual(LAG_MAX_MS);
  expect(pause.retryAfterMs).toBeGreaterThanOrEqual(1_000);

  await waitFor(() => fromNode().slice(firstPause + 1).some((signal) => signal.state === "open"), { timeoutMs: 25_000, what: "an open signal after the pause" });
  const total = BATCHES * EVENTS_PER_BATCH;
  await waitFor(async () => (await countEvents(node!.httpUrl, `service=${SERVICE}`)) >= total, { timeoutMs: 25_000, what: `all ${total} backlog events searchable` });
  expect(await countEvents(node.httpUrl, `service=${SERVICE}`)).toBe(total);
  const { body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=level&service=${SERVICE}`);
  expect(body.aggregations).toEqual({ INFO: total * 0.9, WARN: total * 0.1 });

  const { body: health } = await getJson(`${node.httpUrl}/api/v1/system/health`);
  expect(health.flow.state).toBe("open");
  expect(health.flow.pauses).toBeGreaterThanOrEqual(1);
  expect(health.flow.pausedMs).toBeGreaterThan(0);
  expect(malformed).toEqual([]);
}, 60_000);
