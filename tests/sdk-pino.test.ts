// Goal: an existing pino logger ships into Sluice with configuration only. Each pino
// line maps to an event: the numeric level (10..60, custom levels to the nearest at
// or above) or a level label to Sluice's level, `msg` to message, `time` to timestamp,
// `name` to service, hostname kept, everything else (pid, fields, child bindings, a
// serialized error) to metadata; the keys are configurable and a line that is not JSON
// becomes an event whose message is the line. End to end, `pino(options,
// sluiceDestination(...))` and `pino.transport({ target: "sluice/sdk/pino-transport" })`
// (a worker thread) both make pino's events searchable with the mapped fields.
// Method: pinoLineToRecord over a table; then real pino (a devDependency) writing into
// the adapter, a real node, and the HTTP search API.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import pino from "pino";
import { pinoLevel, pinoLineToRecord, sluiceDestination } from "sluice/sdk/pino";
import { getJson, countEvents, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

describe("pino lines to records", () => {
  test.each<[number, string]>([
    [5, "TRACE"],
    [10, "TRACE"],
    [20, "DEBUG"],
    [30, "INFO"],
    [35, "WARN"],
    [40, "WARN"],
    [50, "ERROR"],
    [60, "FATAL"],
    [70, "FATAL"],
  ])("pino level %p is %s", (level, expected) => {
    expect(pinoLevel(level)).toBe(expected);
  });

  test("a pino line: level, msg, time and name are renamed; the rest is left for metadata", () => {
    const line = JSON.stringify({ level: 50, time: 1_763_719_200_123, pid: 7, hostname: "web-1", name: "checkout", order_id: 42, msg: "order failed" });
    expect(pinoLineToRecord(line)).toEqual({ level: "ERROR", timestamp: 1_763_719_200_123, pid: 7, hostname: "web-1", service: "checkout", order_id: 42, message: "order failed" });
  });

  test.each<[string, string, Record<string, unknown>]>([
    ["no msg (log.info({ fields }) alone)", JSON.stringify({ level: 30, a: 1 }), { level: "INFO", a: 1, message: "" }],
    ["a level label (formatters.level)", JSON.stringify({ level: "warn", msg: "m" }), { level: "warn", message: "m" }],
    ["an explicit service wins over name", JSON.stringify({ level: 30, name: "n", service: "s", msg: "m" }), { level: "INFO", name: "n", service: "s", message: "m" }],
    ["not JSON", "plain text line", { message: "plain text line" }],
    ["a JSON array", "[1,2]", { message: "[1,2]" }],
  ])("%s", (_what, line, expected) => {
    expect(pinoLineToRecord(line)).toEqual(expected);
  });

  test("configurable keys: messageKey and serviceKey", () => {
    expect(pinoLineToRecord(JSON.stringify({ level: 30, text: "hello", app: "billing" }), "app", "text")).toEqual({ level: "INFO", message: "hello", service: "billing" });
  });
});

describe("pino end to end", () => {
  let node: TestNode;
  let nc: NatsConnection;
  beforeAll(async () => {
    node = await startTestNode({ shards: 2 });
    nc = await connect({ servers: node.natsUrl });
  });
  afterAll(async () => {
    await nc?.close();
    await node?.stop();
  });

  const search = async (query: string) => (await getJson(`${node.httpUrl}/api/v1/logs/search?${query}&order=oldest`)).body.logs as Record<string, any>[];

  test("pino(options, sluiceDestination(...)): events searchable with mapped level, service, message, timestamp and metadata", async () => {
    const destination = sluiceDestination({ nc, flushOnExit: false, batchAgeMs: 10 });
    const log = pino({ name: "pino-checkout", level: "trace" }, destination);
    const before = Date.now();
    log.info({ order_id: 42, trace_id: "pino-trace-1" }, "order placed");
    log.child({ request_id: "r-1" }).warn("slow payment provider");
    log.error(new Error("card declined"), "payment failed");
    log.trace("trace detail");
    log.fatal({ code: 7 }, "giving up");
    const final = await destination.end();
    expect(final).toMatchObject({ logged: 5, acked: 5, invalid: 0, failedEvents: 0 });
    await waitFor(async () => (await countEvents(node.httpUrl, "service=pino-checkout")) === 5, { what: "5 pino events" });
    const logs = await search("service=pino-checkout");
    expect(logs.map((each) => [each.level, each.message])).toEqual([
      ["INFO", "order placed"],
      ["WARN", "slow payment provider"],
      ["ERROR", "payment failed"],
      ["TRACE", "trace detail"],
      ["FATAL", "giving up"],
    ]);
    const [placed, slow, failed] = logs;
    expect([placed.trace_id, placed.hostname, placed.metadata]).toEqual(["pino-trace-1", (await import("node:os")).hostname(), { pid: process.pid, order_id: 42 }]);
    expect(Date.parse(placed.timestamp) >= before && Date.parse(placed.timestamp) <= Date.now()).toBe(true);
    expect(slow.metadata).toEqual({ pid: process.pid, request_id: "r-1" });
    expect(failed.metadata.err).toMatchObject({ type: "Error", message: "card declined" });
    expect(failed.metadata.err.stack).toContain("Error: card declined");
  });

  test("pino.transport({ target: \"sluice/sdk/pino-transport\" }): shipped from a worker thread, flushed when the transport ends", async () => {
    const transport = pino.transport({ target: "sluice/sdk/pino-transport", options: { servers: node.natsUrl, service: "pino-worker", batchAgeMs: 10 } });
    const log = pino({ level: "info" }, transport);
    for (let index = 0; index < 100; index++) log.info({ index }, `from the worker ${index}`);
    const closed = new Promise<void>((resolve) => transport.once("close", () => resolve()));
    transport.end();
    await closed;
    await waitFor(async () => (await countEvents(node.httpUrl, "service=pino-worker")) === 100, { what: "100 events from the transport" });
    const [first] = await search("service=pino-worker&q=worker&limit=1");
    expect([first.level, first.message, first.metadata.index]).toEqual(["INFO", "from the worker 0", 0]);
  });
});
