// Goal: the producer SDK's logger, imported from the package ("sluice/sdk"), returns
// from log() at once with the event only buffered, and the event becomes searchable
// with its fields (levels from every helper, the logger's service and hostname as
// defaults, the call time as timestamp, extra fields in metadata), while an invalid
// record (no message, a cycle, a BigInt) is counted and never throws; it batches by count,
// by bytes and by age, each bound alone deciding; FlatBuffers is the default wire
// format and NDJSON stores the same events; close() flushes everything buffered,
// then drops (and counts) what is logged after it.
// Method: one real node (its own nats-server); loggers on a connection of the test's;
// a tap on the WAL subjects (tests/helpers/wal-tap.ts) shows each published message;
// results read back through the HTTP search API. Waits are on conditions with deadlines.

import { describe, expect, test } from "bun:test";
import { createLogger, type LoggerOptions } from "sluice/sdk";
import { eventBytes } from "../src/sdk/ring-buffer.ts";
import { countEvents, getJson } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";
import { useTappedNode } from "./helpers/tapped-node.ts";

const sluice = useTappedNode({ shards: 4 });

/** A logger on the test's connection that never installs exit hooks in the test runner. */
function logger(options: Partial<LoggerOptions>) {
  return createLogger({ nc: sluice.nc, flushOnExit: false, hostname: "sdk-host", ...options });
}

const search = async (query: string) => (await getJson(`${sluice.node.httpUrl}/api/v1/logs/search?${query}&order=oldest&limit=1000`)).body.logs as Record<string, unknown>[];
const count = (service: string) => countEvents(sluice.node.httpUrl, `service=${service}`);

describe("logging", () => {
  test("log() returns at once with the event buffered; it becomes searchable with its fields", async () => {
    const log = logger({ service: "sdk-basic" });
    const beforeUs = Date.now() * 1000;
    expect(log.info("payment failed for order 42", { trace_id: "sdk-trace-1", amount: 12.5 })).toBe(true);
    // Nothing has left yet: the call only buffered it (the logger is not even connected).
    expect(log.stats()).toMatchObject({ logged: 1, buffered: 1, published: 0, acked: 0, ready: false });
    const afterUs = Date.now() * 1000;
    expect(log.log({ message: "explicit", level: "warning", timestamp: "2026-11-21T10:00:00.123456Z", service: "sdk-basic", hostname: "other-host", span_id: "span-9", trace_id: "sdk-trace-2", metadata: { nested: { a: 1 } } })).toBe(true);
    expect([log.trace("t"), log.debug("d"), log.warn("w"), log.error("e"), log.fatal("f")]).toEqual([true, true, true, true, true]);
    // Invalid records are counted and never buffered, and never throw at the caller: no message, a cycle, a BigInt.
    const cyclic: Record<string, unknown> = { message: "cyclic" };
    cyclic.self = cyclic;
    expect([log.log({ level: "info" }), log.log(cyclic), log.log({ message: "big", amount: 10n })]).toEqual([false, false, false]);
    await waitFor(async () => (await count("sdk-basic")) === 7, { what: "7 sdk-basic events" });

    const [first] = await search("trace_id=sdk-trace-1");
    const { id: _id, ingest_ts: _ingestTs, timestamp: _timestamp, ...fields } = first;
    expect(fields).toEqual({ tenant: "default", level: "INFO", service: "sdk-basic", hostname: "sdk-host", trace_id: "sdk-trace-1", span_id: "", message: "payment failed for order 42", metadata: { amount: 12.5 } });
    // The timestamp is the call's, not the ingest's.
    const stampedUs = Date.parse(first.timestamp as string) * 1000;
    expect(stampedUs >= Math.floor(beforeUs / 1000) * 1000 && stampedUs <= afterUs).toBe(true);
    const [second] = await search("trace_id=sdk-trace-2");
    expect([second.timestamp, second.level, second.hostname, second.span_id, second.metadata]).toEqual(["2026-11-21T10:00:00.123456Z", "WARN", "other-host", "span-9", { nested: { a: 1 } }]);
    const levels = (await search("service=sdk-basic&q=" + encodeURIComponent("t OR d OR w OR e OR f"))).map((each) => each.level).sort();
    expect(levels).toEqual(["DEBUG", "ERROR", "FATAL", "TRACE", "WARN"]);
    expect(await log.close()).toMatchObject({ logged: 7, invalid: 3, acked: 7, failedEvents: 0, abandoned: 0, buffered: 0, inFlight: 0 });
  });

  test("by count: full batches leave at once, the rest waits for its age or a flush", async () => {
    const log = logger({ service: "sdk-count", batchEventsMax: 100, batchAgeMs: 60_000 });
    for (let index = 0; index < 250; index++) log.info(`count ${index}`);
    await waitFor(() => sluice.tap.sizes("sdk-count").length === 2, { what: "two batches" });
    expect(sluice.tap.sizes("sdk-count")).toEqual([100, 100]);
    expect(log.stats()).toMatchObject({ buffered: 50, published: 200 });
    await log.flush();
    expect(sluice.tap.sizes("sdk-count")).toEqual([100, 100, 50]);
    expect(log.stats()).toMatchObject({ logged: 250, acked: 250, batches: 3, buffered: 0 });
    // Every message carries its own id: producer id and sequence.
    expect(new Set(sluice.tap.of("sdk-count").map((message) => message.msgId)).size).toBe(3);
    expect(sluice.tap.of("sdk-count").every((message) => message.msgId.startsWith(`${log.options.producerId}-`))).toBe(true);
    await log.close();
    await waitFor(async () => (await count("sdk-count")) === 250, { what: "250 sdk-count events" });
  });

  test("by bytes: a batch leaves once its events' estimated bytes reach the bound", async () => {
    const service = "sdk-bytes";
    const record = (index: number) => ({ message: `${String(index).padStart(4, "0")} ${"b".repeat(919)}`, metadata: {} });
    // 1000 estimated bytes an event, so 4 fit in 4096 and a fifth fills the batch.
    expect(eventBytes({ timestampUs: 0, level: "INFO", service, hostname: "h", traceId: "", spanId: "", message: record(0).message, metadata: "{}" })).toBe(1000);
    const log = logger({ service, hostname: "h", batchBytesMax: 4096, batchEventsMax: 1000, batchAgeMs: 60_000 });
    for (let index = 0; index < 22; index++) log.log(record(index));
    await waitFor(() => sluice.tap.sizes(service).length === 5, { what: "five batches" });
    expect(log.stats()).toMatchObject({ buffered: 2 });
    await log.flush();
    expect(sluice.tap.sizes(service)).toEqual([4, 4, 4, 4, 4, 2]);
    await log.close();
  });

  test("by age: a lone event leaves after batchAgeMs, not before", async () => {
    const log = logger({ service: "sdk-age", batchAgeMs: 300 });
    await log.ready;
    const startedAt = performance.now();
    for (let index = 0; index < 5; index++) log.info(`age ${index}`);
    await waitFor(() => sluice.tap.sizes("sdk-age").length === 1, { what: "one batch", intervalMs: 5 });
    const waited = sluice.tap.of("sdk-age")[0].atMs - startedAt;
    expect(sluice.tap.sizes("sdk-age")).toEqual([5]);
    expect(waited).toBeGreaterThanOrEqual(295);
    expect(waited).toBeLessThan(5_000);
    await log.close();
  });
});

describe("wire format", () => {
  test("FlatBuffers by default, NDJSON on request; both store the same events", async () => {
    const records = [
      { level: "error", message: "card declined", trace_id: "sdk-wire-1", timestamp: "2026-11-21T10:00:00.000007Z", metadata: { amount: 1.5, tags: ["a", "b"] }, user: "u-1" },
      { level: "debug", message: "ünïcödé ✓ \"quoted\"\nsecond line", trace_id: "sdk-wire-2", timestamp: 1_763_719_200_123 },
    ];
    const flat = logger({ service: "sdk-flat" });
    const ndjson = logger({ service: "sdk-ndjson", format: "ndjson" });
    for (const record of records) {
      flat.log(record);
      ndjson.log(record);
    }
    await Promise.all([flat.close(), ndjson.close()]);
    expect(sluice.tap.of("sdk-flat").map((message) => [message.formatHeader, message.walBatch])).toEqual([["", true]]);
    expect(sluice.tap.of("sdk-ndjson").map((message) => [message.formatHeader, message.walBatch, String.fromCharCode(message.firstByte)])).toEqual([["ndjson", false, "{"]]);
    await waitFor(async () => (await count("sdk-flat")) === 2 && (await count("sdk-ndjson")) === 2, { what: "both loggers' events" });
    const strip = (logs: Record<string, unknown>[]) => logs.map(({ id: _id, ingest_ts: _ingest, service: _service, ...rest }) => rest);
    const fromFlat = strip(await search("service=sdk-flat"));
    expect(strip(await search("service=sdk-ndjson"))).toEqual(fromFlat);
    expect(fromFlat).toEqual([
      { timestamp: "2025-11-21T10:00:00.123000Z", tenant: "default", level: "DEBUG", hostname: "sdk-host", trace_id: "sdk-wire-2", span_id: "", message: "ünïcödé ✓ \"quoted\"\nsecond line", metadata: {} },
      { timestamp: "2026-11-21T10:00:00.000007Z", tenant: "default", level: "ERROR", hostname: "sdk-host", trace_id: "sdk-wire-1", span_id: "", message: "card declined", metadata: { amount: 1.5, tags: ["a", "b"], user: "u-1" } },
    ]);
  });
});

describe("close", () => {
  test("close() delivers everything buffered, then drops (and counts) later calls", async () => {
    const log = logger({ service: "sdk-close", batchAgeMs: 60_000 });
    for (let index = 0; index < 1234; index++) log.info(`close ${index}`, { index });
    expect(log.stats()).toMatchObject({ buffered: 1234, published: 0 });
    const final = await log.close();
    expect(final).toMatchObject({ logged: 1234, published: 1234, acked: 1234, buffered: 0, inFlight: 0, failedEvents: 0, abandoned: 0, dropped: 0 });
    expect(log.info("too late")).toBe(false);
    expect(log.stats().dropped).toBe(1);
    await waitFor(async () => (await count("sdk-close")) === 1234, { what: "1234 events after close" });
  });

  test("close() before any connection gives up at its deadline and counts what it abandons", async () => {
    const errors: string[] = [];
    // Port 1 refuses at once: the logger keeps retrying to connect meanwhile.
    const log = createLogger({ servers: "nats://127.0.0.1:1", flushOnExit: false, onError: (error) => void errors.push(error.code) });
    for (let index = 0; index < 10; index++) log.info(`never ${index}`);
    const final = await log.close(200);
    expect(final).toMatchObject({ logged: 10, acked: 0, abandoned: 10, buffered: 0, ready: false });
    expect(await log.ready).toBe(false);
    expect(errors).toContain("connect_failed");
    expect(errors.at(-1)).toBe("batch_abandoned");
  });
});
