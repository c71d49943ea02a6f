// Goal: exactly once through crashes. While a producer publishes steadily, the node
// is killed with SIGKILL at random moments and restarted; afterwards every event
// JetStream acknowledged is searchable exactly once. Also: the node's own nats-server
// child stops with it and a restart on the same data directory loses nothing.
// Method: real nats-server and node processes; each batch carries its batch number in
// `service`, so one aggregate shows, per batch, that it is there exactly once.

import { afterAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createProducer, type Producer } from "../src/sdk/producer.ts";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { getJson, isAlive, natsPidOf, startTestNats, startTestNode, tempDir, type TestNats, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const BATCH_EVENTS = 100;
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function batch(number: number): NormalizedEvent[] {
  return Array.from({ length: BATCH_EVENTS }, (_, index) => ({
    timestampUs: Date.now() * 1000,
    level: "INFO",
    service: `batch-${number}`,
    hostname: "kill9",
    traceId: `t-${number}-${index}`,
    spanId: "",
    message: `event ${index} of batch ${number}`,
    metadata: "{}",
  }));
}

/** Publishes batches one after another until stopped; records which were acked. */
function startProducer(producer: Producer) {
  const acked = new Set<number>();
  const failed = new Set<number>();
  let stopped = false;
  let next = 0;
  const done = (async () => {
    while (!stopped) {
      const number = next++;
      try {
        const outcome = await producer.sendEvents(batch(number));
        if (outcome.failed === 0) acked.add(number);
        else failed.add(number);
      } catch {
        // A publish that failed may or may not have been stored: checked separately.
        failed.add(number);
      }
      if (number % 10 === 9) await Bun.sleep(5);
    }
  })();
  return { acked, failed, stop: async () => ((stopped = true), await done) };
}

/** Per batch number, how many of its events are searchable. */
async function batchCounts(node: TestNode): Promise<Map<number, number>> {
  const { status, body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=service&hostname=kill9`);
  if (status !== 200 || body.partial) throw new Error(`aggregate: ${status} ${JSON.stringify(body).slice(0, 200)}`);
  return new Map(Object.entries(body.aggregations as Record<string, number>).map(([service, count]) => [Number(service.slice(6)), count]));
}

async function expectExactlyOnce(node: TestNode, acked: Set<number>, failed: Set<number>): Promise<void> {
  const wanted = acked.size * BATCH_EVENTS;
  const counts = await waitFor(async () => {
    const current = await batchCounts(node);
    const ackedSeen = [...acked].reduce((sum, number) => sum + (current.get(number) ?? 0), 0);
    return ackedSeen >= wanted ? current : null;
  }, { timeoutMs: 90_000, what: `${wanted} acknowledged events searchable` });
  const wrong = [...acked].filter((number) => counts.get(number) !== BATCH_EVENTS);
  expect(wrong).toEqual([]);
  // A batch whose publish failed may have been stored before the failure: never partly, never twice.
  const partial = [...counts].filter(([number, count]) => !acked.has(number) && (!failed.has(number) || count !== BATCH_EVENTS));
  expect(partial).toEqual([]);
}

describe("kill -9 recovery", () => {
  test("SIGKILL at random moments during ingest: every acked event exactly once", async () => {
    const nats: TestNats = await startTestNats();
    cleanups.push(() => nats.stop());
    const dataDir = tempDir("kill9").path;
    let node = await startTestNode({ dataDir, natsUrl: nats.url, extraArgs: ["--seal-age-ms", "300", "--flush-interval-ms", "50"] });
    const nc: NatsConnection = await connect({ servers: nats.url });
    cleanups.push(() => nc.close());
    const producer = startProducer(await createProducer({ nc }));
    for (let round = 0; round < 4; round++) {
      await Bun.sleep(300 + Math.floor(Math.random() * 1500));
      await node.kill9();
      node = await startTestNode({ dataDir, natsUrl: nats.url, extraArgs: ["--seal-age-ms", "300", "--flush-interval-ms", "50"] });
    }
    await Bun.sleep(500);
    await producer.stop();
    cleanups.push(() => node.stop());
    expect(producer.acked.size).toBeGreaterThan(50);
    await expectExactlyOnce(node, producer.acked, producer.failed);
  }, 240_000);

  test("the node's own nats-server stops with it, and a restart with NATS restarted loses nothing", async () => {
    const dataDir = tempDir("kill9-own").path;
    const port = await freePort();
    let node = await startTestNode({ dataDir, extraArgs: ["--nats-port", String(port)] });
    const natsPid = () => natsPidOf(dataDir);
    const firstNatsPid = natsPid();
    expect(firstNatsPid).toBeGreaterThan(0);
    const nc = await connect({ servers: node.natsUrl, maxReconnectAttempts: 0 });
    const producer = startProducer(await createProducer({ nc }));
    await waitFor(() => producer.acked.size >= 20, { what: "some acked batches" });
    await node.kill9();
    await producer.stop();
    await nc.close().catch(() => undefined);
    // The wrapper saw our end of its pipe close and stopped nats-server: no orphan.
    await waitFor(() => !isAlive(firstNatsPid), { timeoutMs: 20_000, what: `nats-server ${firstNatsPid} to exit` });
    node = await startTestNode({ dataDir, extraArgs: ["--nats-port", String(port)] });
    cleanups.push(() => node.stop());
    expect(natsPid()).not.toBe(firstNatsPid);
    await expectExactlyOnce(node, producer.acked, producer.failed);
  }, 120_000);
});

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}
