// Goal: what the logger does when its buffer is full is exact and counted. While a
// node asks producers to pause, the logger holds its events in the buffer (it takes
// no batch), so the buffer fills. Under "drop" (the default) log() takes exactly the
// events that fit, returns false for each one past the bound and counts each as
// dropped; once the pause lifts, exactly the events taken are stored. Under "block",
// log() hands a full buffer's event back (false, counted as refused) and logAsync()
// waits, in call order, until the buffer has room (resolving true), or until
// blockTimeoutMs (false, dropped), and at most LOGGER_BLOCK_WAITERS_MAX callers wait;
// close() releases waiting callers with false.
// Method: one real node; a pause signal published on the flow subject by a fake node
// (its ttl holds it up to a minute) and lifted with an "open" from the same node; the
// node's own stored counts read back over HTTP. Pending promises are shown pending
// with Bun.peek.status after the event loop had a full turn.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { encodeFlowSignal, FLOW_PROTOCOL_VERSION } from "../src/protocol/flow.ts";
import { FLOW_SUBJECT } from "../src/protocol/subjects.ts";
import { FLOW_SIGNAL_TTL_MAX_MS } from "../src/protocol/limits.ts";
import { LOGGER_BLOCK_WAITERS_MAX } from "../src/sdk/limits.ts";
import { createLogger, type SluiceLogger } from "../src/sdk/logger.ts";
import type { LoggerOptions } from "../src/sdk/options.ts";
import { countEvents, getJson, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const PAUSER = "sdk-test-pauser";
let node: TestNode;
let nc: NatsConnection;
beforeAll(async () => {
  node = await startTestNode({ shards: 2 });
  nc = await connect({ servers: node.natsUrl });
});
afterEach(async () => {
  // Whatever a test did, the next one starts open.
  await setFlow("open");
});
afterAll(async () => {
  await nc?.close();
  await node?.stop();
});

async function setFlow(state: "open" | "pause"): Promise<void> {
  nc.publish(FLOW_SUBJECT, encodeFlowSignal({ v: FLOW_PROTOCOL_VERSION, node: PAUSER, state, lagMs: 5_000, retryAfterMs: 1_000, ttlMs: FLOW_SIGNAL_TTL_MAX_MS }));
  await nc.flush();
}

/** Operating failures the loggers reported (close() giving up while paused, on purpose). */
const reported: string[] = [];

/** A connected logger that has heard the pause. */
async function pausedLogger(options: Partial<LoggerOptions>): Promise<SluiceLogger> {
  const logger = createLogger({ nc, flushOnExit: false, batchEventsMax: 10, batchAgeMs: 0, onError: (error) => void reported.push(error.code), ...options });
  expect(await logger.ready).toBe(true);
  await setFlow("pause");
  await waitFor(() => logger.stats().paused, { timeoutMs: 5_000, what: "the logger to hear the pause" });
  return logger;
}

function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe("drop (the default policy)", () => {
  test("takes exactly what fits, drops and counts each event past the bound, stores exactly the taken ones", async () => {
    const logger = await pausedLogger({ service: "sdk-drop", bufferEventsMax: 100 });
    const taken = Array.from({ length: 150 }, (_, index) => logger.info(`drop ${index}`));
    expect(taken).toEqual([...Array(100).fill(true), ...Array(50).fill(false)]);
    await settle();
    expect(logger.stats()).toMatchObject({ logged: 100, dropped: 50, refused: 0, buffered: 100, published: 0, paused: true, flowWaits: 1 });
    // logAsync under "drop" drops at once too.
    expect(await logger.logAsync({ message: "async drop" })).toBe(false);
    expect(logger.stats().dropped).toBe(51);

    await setFlow("open");
    await logger.flush();
    expect(logger.stats()).toMatchObject({ logged: 100, acked: 100, dropped: 51, buffered: 0 });
    await waitFor(async () => (await countEvents(node.httpUrl, "service=sdk-drop")) === 100, { what: "exactly the 100 taken events" });
    await logger.close();
    expect(await countEvents(node.httpUrl, "service=sdk-drop")).toBe(100);
  });

  test("the byte bound drops too", async () => {
    const logger = await pausedLogger({ service: "sdk-drop-bytes", bufferBytesMax: 4096, batchBytesMax: 1024 });
    const taken = Array.from({ length: 6 }, (_, index) => logger.log({ message: `${index}${"x".repeat(900)}` }));
    // ~1000 estimated bytes each: four fit in 4096.
    expect(taken).toEqual([true, true, true, true, false, false]);
    expect(logger.stats()).toMatchObject({ logged: 4, dropped: 2 });
    await setFlow("open");
    expect(await logger.close()).toMatchObject({ acked: 4, abandoned: 0 });
  });
});

describe("block", () => {
  test("log() hands the event back; logAsync() waits in order for room and is taken once the pause lifts", async () => {
    const logger = await pausedLogger({ service: "sdk-block", fullPolicy: "block", bufferEventsMax: 20, blockTimeoutMs: 60_000 });
    for (let index = 0; index < 20; index++) expect(logger.info(`fill ${index}`)).toBe(true);
    expect(logger.info("refused")).toBe(false);
    const waiting = Array.from({ length: 5 }, (_, index) => logger.logAsync({ message: `waited ${index}` }));
    await settle();
    expect(waiting.map((promise) => Bun.peek.status(promise))).toEqual(Array(5).fill("pending"));
    // While callers wait, a synchronous log() does not jump the queue.
    expect(logger.info("refused too")).toBe(false);
    expect(logger.stats()).toMatchObject({ logged: 20, refused: 2, dropped: 0, waiting: 5, buffered: 20, published: 0 });

    await setFlow("open");
    expect(await Promise.all(waiting)).toEqual(Array(5).fill(true));
    const final = await logger.close();
    expect(final).toMatchObject({ logged: 25, acked: 25, refused: 2, dropped: 0, waiting: 0 });
    await waitFor(async () => (await countEvents(node.httpUrl, "service=sdk-block")) === 25, { what: "the 25 taken events" });
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/search?service=sdk-block&q=waited`);
    expect(body.logs.map((log: { message: string }) => log.message).sort()).toEqual(["waited 0", "waited 1", "waited 2", "waited 3", "waited 4"]);
  });

  test("a logAsync() that waits past blockTimeoutMs is dropped; close() releases the rest with false", async () => {
    const logger = await pausedLogger({ service: "sdk-block-timeout", fullPolicy: "block", bufferEventsMax: 10, blockTimeoutMs: 100 });
    for (let index = 0; index < 10; index++) logger.info(`fill ${index}`);
    const startedAt = performance.now();
    expect(await logger.logAsync({ message: "times out" })).toBe(false);
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(95);
    expect(logger.stats()).toMatchObject({ dropped: 1, waiting: 0 });

    const patient = await pausedLogger({ service: "sdk-block-close", fullPolicy: "block", bufferEventsMax: 10, blockTimeoutMs: 60_000 });
    for (let index = 0; index < 10; index++) patient.info(`fill ${index}`);
    const waiting = patient.logAsync({ message: "released by close" });
    await settle();
    expect(Bun.peek.status(waiting)).toBe("pending");
    const closing = patient.close(100);
    expect(await waiting).toBe(false);
    // Still paused: close() gives up at its deadline and counts what it abandons.
    expect(await closing).toMatchObject({ dropped: 1, abandoned: 10, buffered: 0 });
    expect(await logger.close(100)).toMatchObject({ dropped: 1, abandoned: 10 });
    expect(reported.splice(0)).toEqual(["batch_abandoned", "batch_abandoned"]);
  });

  test(`at most LOGGER_BLOCK_WAITERS_MAX (${LOGGER_BLOCK_WAITERS_MAX}) callers wait; the next is dropped at once`, async () => {
    const logger = await pausedLogger({ service: "sdk-block-waiters", fullPolicy: "block", bufferEventsMax: 10, blockTimeoutMs: 60_000 });
    for (let index = 0; index < 10; index++) logger.info(`fill ${index}`);
    const waiting = Array.from({ length: LOGGER_BLOCK_WAITERS_MAX }, () => logger.logAsync({ message: "waits" }));
    expect(await logger.logAsync({ message: "one too many" })).toBe(false);
    expect(logger.stats()).toMatchObject({ waiting: LOGGER_BLOCK_WAITERS_MAX, dropped: 1 });
    expect(await logger.close(100)).toMatchObject({ dropped: 1 + LOGGER_BLOCK_WAITERS_MAX, abandoned: 10 });
    expect((await Promise.all(waiting)).every((taken) => taken === false)).toBe(true);
    expect(reported.splice(0)).toEqual(["batch_abandoned"]);
  });
});
