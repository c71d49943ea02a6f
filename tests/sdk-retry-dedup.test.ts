// Goal: a logger's retry never stores an event twice and a failing publish is never
// silently lost. Each batch carries a message id (producer id + sequence) and every
// retry of it uses the same id, so when an ack is lost after JetStream stored the
// batch, the retry is acked as a duplicate and the node holds each event exactly
// once; a publish that fails before storage is retried until stored; a batch still
// failing when the retry window closes is given up, counted and reported, and flush()
// still resolves. Through a NATS restart, a logger on its own connection (servers)
// reconnects and everything it logged before, during and after is stored exactly once.
// Method: real nodes and nats-servers. Lost acks and failed publishes are made by
// wrapping JetStream's publish (the real publish runs, then its ack is thrown away);
// the restart case stops and restarts a nats-server the test controls. Counts are
// read back through the node's aggregate API; every wait is on a condition.

import { afterAll, describe, expect, test } from "bun:test";
import { jetstream } from "@nats-io/jetstream";
import { walSubject } from "../src/protocol/subjects.ts";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { SluiceLogger, createLogger } from "../src/sdk/logger.ts";
import type { LoggerOptions } from "../src/sdk/options.ts";
import type { PublishFunction } from "../src/sdk/shipper.ts";
import { countEvents, startTestNats, startTestNode, type TestNats, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";
import { useTappedNode } from "./helpers/tapped-node.ts";

const sluice = useTappedNode({ shards: 2 });

const count = (service: string) => countEvents(sluice.node.httpUrl, `service=${service}`);

/** A logger whose publishes go through `wrap` (its onError reports are collected). */
function wrappedLogger(options: Partial<LoggerOptions>, wrap: (publish: PublishFunction) => PublishFunction) {
  const errors: string[] = [];
  const logger = new SluiceLogger({ nc: sluice.nc, flushOnExit: false, batchEventsMax: 100, batchAgeMs: 0, onError: (error) => void errors.push(`${error.code}: ${error.message}`), ...options }, { wrapPublish: wrap });
  return { logger, errors };
}

describe("JetStream deduplication is what keeps retries from doubling", () => {
  test("the same batch published twice: stored twice under two ids, once under one id", async () => {
    const js = jetstream(sluice.nc);
    const batch = (service: string) => encodeBatch(Array.from({ length: 10 }, (_, index) => ({ timestampUs: Date.now() * 1000, level: "INFO" as const, service, hostname: "h", traceId: "", spanId: "", message: `m ${index}`, metadata: "{}" })));
    const twoIds = batch("sdk-dedup-two-ids");
    await js.publish(walSubject("default", 0), twoIds, { msgID: "sdk-test-a" });
    await js.publish(walSubject("default", 1), twoIds, { msgID: "sdk-test-b" });
    const oneId = batch("sdk-dedup-one-id");
    const first = await js.publish(walSubject("default", 0), oneId, { msgID: "sdk-test-c" });
    const second = await js.publish(walSubject("default", 1), oneId, { msgID: "sdk-test-c" });
    expect([first.duplicate, second.duplicate]).toEqual([false, true]);
    await waitFor(async () => (await count("sdk-dedup-two-ids")) === 20 && (await count("sdk-dedup-one-id")) === 10, { what: "20 and 10 events" });
  });
});

describe("retries", () => {
  test("an ack lost after the batch was stored: the retry, under the same id, is a duplicate; each event is stored once", async () => {
    const service = "sdk-lost-ack";
    const attempts = new Map<string, number>();
    const { logger, errors } = wrappedLogger({ service }, (publish) => async (subject, payload, options) => {
      const ack = await publish(subject, payload, options);
      const attempt = (attempts.get(options.msgID) ?? 0) + 1;
      attempts.set(options.msgID, attempt);
      // The first ack of every batch is "lost": JetStream stored the batch, the producer never hears it.
      if (attempt === 1) throw new Error("ack lost on the way back");
      return ack;
    });
    for (let index = 0; index < 1000; index++) logger.info(`lost ack ${index}`);
    const final = await logger.close();
    expect(final).toMatchObject({ logged: 1000, published: 1000, acked: 1000, batches: 10, retries: 10, duplicates: 10, failedBatches: 0, failedEvents: 0, abandoned: 0 });
    expect(errors).toEqual([]);
    // On the wire: ten ids, each published exactly twice.
    const ids = sluice.tap.of(service).map((message) => message.msgId);
    expect(ids.length).toBe(20);
    expect([...new Set(ids)].map((id) => ids.filter((each) => each === id).length)).toEqual(Array(10).fill(2));
    await waitFor(async () => (await count(service)) === 1000, { what: "1000 events" });
    // Both attempts of every batch were acked before close() resolved, so nothing more can arrive: still exactly 1000.
    expect(await count(service)).toBe(1000);
  });

  test("a publish that fails before reaching JetStream is retried until stored", async () => {
    const service = "sdk-retry-fail";
    let failures = 0;
    const { logger } = wrappedLogger({ service }, (publish) => async (subject, payload, options) => {
      if (failures < 3) {
        failures++;
        throw new Error("connection hiccup");
      }
      return publish(subject, payload, options);
    });
    for (let index = 0; index < 50; index++) logger.info(`retry ${index}`);
    expect(await logger.close()).toMatchObject({ acked: 50, retries: 3, duplicates: 0, failedEvents: 0 });
    await waitFor(async () => (await count(service)) === 50, { what: "50 events" });
  });

  test("a batch still failing when the retry window closes is given up, counted and reported; flush() resolves", async () => {
    const { logger, errors } = wrappedLogger({ service: "sdk-give-up", retryWindowMs: 300 }, () => async () => {
      throw new Error("JetStream unavailable");
    });
    for (let index = 0; index < 30; index++) logger.info(`given up ${index}`);
    await logger.flush();
    const stats = logger.stats();
    expect(stats).toMatchObject({ logged: 30, published: 30, acked: 0, failedBatches: 1, failedEvents: 30, inFlight: 0, buffered: 0 });
    expect(stats.retries).toBeGreaterThanOrEqual(1);
    expect(errors).toEqual([expect.stringMatching(/^batch_failed: batch [0-9a-f]{32}-1 of 30 events to sluice\.wal\.default\.[01] still failing after \d+ ms \(\d+ attempts\): JetStream unavailable$/)]);
    await logger.close();
  });
});

describe("NATS restart", () => {
  let nats: TestNats | undefined;
  let restartNode: TestNode | undefined;
  afterAll(async () => {
    await restartNode?.stop();
    await nats?.stop();
  });

  test("a logger on its own connection rides out a NATS restart: everything stored exactly once", async () => {
    nats = await startTestNats();
    restartNode = await startTestNode({ natsUrl: nats.url, shards: 2 });
    const errors: string[] = [];
    const logger = createLogger({ servers: nats.url, service: "sdk-restart", flushOnExit: false, publishTimeoutMs: 1_000, batchEventsMax: 50, batchAgeMs: 10, natsOptions: { reconnectTimeWait: 100 }, onError: (error) => void errors.push(error.code) });
    for (let index = 0; index < 300; index++) logger.info(`before ${index}`);
    await logger.flush();
    expect(logger.stats()).toMatchObject({ acked: 300, ready: true });

    await nats.stop();
    // Logged while NATS is down: buffered and retried, log() still returns at once.
    for (let index = 0; index < 300; index++) expect(logger.info(`during ${index}`)).toBe(true);
    await waitFor(() => logger.stats().retries > 0, { what: "publishes to be retried while NATS is down" });
    nats = await nats.restart();
    for (let index = 0; index < 300; index++) logger.info(`after ${index}`);
    const final = await logger.close(60_000);
    expect(final).toMatchObject({ logged: 900, acked: 900, failedEvents: 0, abandoned: 0 });
    expect(errors).toEqual([]);
    await waitFor(async () => (await countEvents(restartNode!.httpUrl, "service=sdk-restart")) === 900, { timeoutMs: 60_000, what: "900 events after the restart" });
  }, 120_000);
});
