// Goal: producers publishing straight to NATS reach the same store as HTTP: the WAL
// subject carries the tenant; NDJSON, a JSON array, text lines (service and host in
// headers) and FlatBuffers batches are all stored; a corrupted FlatBuffers batch is
// rejected whole (its checksum) and reported on the rejects subject, an event of one
// whose strings are not UTF-8 alone; and the producer
// helper spreads one dominant service over every shard with no router.
// Method: a real node; publish with nats.js and the producer helper; read back through
// the HTTP API and the node's health (per-shard event counters).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { createProducer } from "../src/sdk/producer.ts";
import { ByteBuffer } from "flatbuffers";
import { Batch } from "../src/protocol/generated/sluice/wal/batch.ts";
import { crc32, encodeBatch } from "../src/protocol/wal-batch.ts";
import { HOSTNAME_HEADER, SERVICE_HEADER, walSubject } from "../src/protocol/subjects.ts";
import { countEvents, getJson, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";
import { INGEST_EVENTS_PER_REQUEST_MAX } from "../src/ingest/limits.ts";

const SHARDS = 8;
let node: TestNode;
let nc: NatsConnection;
let js: JetStreamClient;
beforeAll(async () => {
  node = await startTestNode({ shards: SHARDS, extraArgs: ["--api-keys", "key-default-0001:default,key-acme-00001:acme"] });
  nc = await connect({ servers: node.natsUrl });
  js = jetstream(nc);
});
afterAll(async () => {
  await nc?.close();
  await node?.stop();
});

const auth = (key = "key-default-0001") => ({ authorization: `Bearer ${key}` });
const count = (query: string, key?: string) => countEvents(node.httpUrl, query, auth(key));

describe("publishing over NATS", () => {
  test("NDJSON, a JSON array and text lines are stored with the subject's tenant", async () => {
    const encoder = new TextEncoder();
    await js.publish(walSubject("acme", 1), encoder.encode([JSON.stringify({ service: "nats-ndjson", message: "one" }), "{broken", JSON.stringify({ service: "nats-ndjson", message: "two" })].join("\n")));
    await js.publish(walSubject("acme", 2), encoder.encode(JSON.stringify([{ service: "nats-array", message: "a" }, { service: "nats-array", message: "b" }, { service: "nats-array", message: "c" }])));
    const textHeaders = headers();
    textHeaders.set(SERVICE_HEADER, "nats-text");
    textHeaders.set(HOSTNAME_HEADER, "edge-1");
    await js.publish(walSubject("acme", 3), encoder.encode("2015-07-29 17:41:44,747 - WARN  [main] first\n2015-07-29 17:41:45,000 - INFO  [main] second\n"), { headers: textHeaders });
    await waitFor(async () => (await count("q=", "key-acme-00001")) === 7, { what: "7 events for tenant acme" });
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=service`, { headers: auth("key-acme-00001") });
    expect(body.aggregations).toEqual({ "nats-array": 3, "nats-ndjson": 2, "nats-text": 2 });
    const text = await getJson(`${node.httpUrl}/api/v1/logs/search?service=nats-text&level=WARN`, { headers: auth("key-acme-00001") });
    expect(text.body.logs.map((log: { hostname: string; timestamp: string }) => [log.hostname, log.timestamp])).toEqual([["edge-1", "2015-07-29T17:41:44.747000Z"]]);
    // Tenants are isolated: the default tenant sees none of acme's events.
    expect(await count("service=nats-ndjson")).toBe(0);
  });

  test("a FlatBuffers batch is stored; a corrupted one is rejected whole and reported", async () => {
    const rejects: unknown[] = [];
    const subscription = nc.subscribe("sluice.rejects.default", { callback: (_, message) => void rejects.push(message.json()) });
    const events = Array.from({ length: 50 }, (_, index) => ({ timestampUs: 1_763_719_200_000_000 + index, level: "ERROR" as const, service: "nats-fb", hostname: "h", traceId: `fb-${index}`, spanId: "", message: `flat ${index}`, metadata: '{"k":1}' }));
    await js.publish(walSubject("default", 0), encodeBatch(events));
    const corrupted = encodeBatch(events.map((event) => ({ ...event, service: "nats-fb-bad" })));
    corrupted[corrupted.length - 20] ^= 0xff;
    await js.publish(walSubject("default", 1), corrupted);
    await waitFor(() => rejects.length > 0, { what: "a rejection report" });
    expect(JSON.stringify(rejects[0])).toContain("checksum_mismatch");
    await waitFor(async () => (await count("service=nats-fb")) === 50, { what: "the good batch" });
    expect(await count("service=nats-fb-bad")).toBe(0);
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/search?trace_id=fb-7`, { headers: auth() });
    expect(body.logs.map((log: { message: string; metadata: unknown; level: string }) => [log.message, log.metadata, log.level])).toEqual([["flat 7", { k: 1 }, "ERROR"]]);
    subscription.unsubscribe();
  });

  test("an event whose strings are not UTF-8 is refused and reported; the rest of its batch is stored", async () => {
    const rejects: { rejected: { line: number; error: string }[] }[] = [];
    const subscription = nc.subscribe("sluice.rejects.default", { callback: (_, message) => void rejects.push(message.json()) });
    const events = Array.from({ length: 20 }, (_, index) => ({ timestampUs: 1_763_719_200_000_000 + index, level: "INFO" as const, service: "nats-utf8", hostname: "h", traceId: "", spanId: "", message: index === 7 ? "MARK-not-text" : `fine ${index}`, metadata: "{}" }));
    const batch = encodeBatch(events);
    // Replace the marker with bytes that are not UTF-8, then fix the checksum so the batch itself is sound.
    const payload = Batch.getRootAsBatch(new ByteBuffer(batch)).payloadArray()!;
    const oldCrc = crc32(payload);
    const marker = Buffer.from(batch).indexOf("MARK");
    batch.set([0xff, 0xfe, 0xc3, 0x28], marker);
    const crcAt = Buffer.from(batch.subarray(0, 64)).indexOf(Buffer.from(new Uint32Array([oldCrc]).buffer));
    new DataView(batch.buffer, batch.byteOffset).setUint32(crcAt, crc32(payload), true);
    await js.publish(walSubject("default", 2), batch);
    await waitFor(() => rejects.some((report) => report.rejected[0]?.error.includes("UTF-8")), { what: "a UTF-8 refusal report" });
    expect(rejects.find((report) => report.rejected[0]?.error.includes("UTF-8"))!.rejected).toEqual([{ line: 0, error: "event 7: message is not valid UTF-8" }]);
    await waitFor(async () => (await count("service=nats-utf8")) === 19, { what: "the batch's other 19 events" });
    subscription.unsubscribe();
  });

  test(`a text message of more than INGEST_EVENTS_PER_REQUEST_MAX (${INGEST_EVENTS_PER_REQUEST_MAX}) lines is refused whole and reported, never cut short`, async () => {
    const rejects: { rejected: { error: string }[] }[] = [];
    const subscription = nc.subscribe("sluice.rejects.default", { callback: (_, message) => void rejects.push(message.json()) });
    const lines = INGEST_EVENTS_PER_REQUEST_MAX + 1;
    const textHeaders = headers();
    textHeaders.set(SERVICE_HEADER, "nats-too-many");
    await js.publish(walSubject("default", 2), new TextEncoder().encode("x\n".repeat(lines)), { headers: textHeaders, timeout: 10_000 });
    const tooMany = () => rejects.find((report) => report.rejected[0]?.error.includes(`more than ${INGEST_EVENTS_PER_REQUEST_MAX} events`));
    await waitFor(() => tooMany() !== undefined, { what: "the whole message reported" });
    expect(await count("service=nats-too-many")).toBe(0);
    subscription.unsubscribe();
  });

  test("a shard number the stream does not have gets no ack", async () => {
    await expect(js.publish(walSubject("default", SHARDS), new TextEncoder().encode('{"message":"lost?"}'), { timeout: 2000 })).rejects.toThrow();
  });

  test("one dominant service still spreads over every shard (producer helper, no router)", async () => {
    const before = await shardEventCounts();
    const producer = await createProducer({ nc });
    expect(producer.shards).toBe(SHARDS);
    const records = Array.from({ length: 400 }, (_, index) => ({ service: "checkout", level: "info", message: `dominant ${index}` }));
    for (let start = 0; start < records.length; start += 25) {
      const result = await producer.send(records.slice(start, start + 25));
      expect(result).toEqual({ accepted: 25, rejected: [] });
    }
    await waitFor(async () => (await count("service=checkout")) === 400, { what: "400 checkout events" });
    const after = await shardEventCounts();
    const added = after.map((value, shard) => value - before[shard]);
    expect(added.length).toBe(SHARDS);
    expect(added.every((value) => value > 0)).toBe(true);
    expect(added.reduce((sum, value) => sum + value, 0)).toBe(400);
  });
});

async function shardEventCounts(): Promise<number[]> {
  const { body } = await getJson(`${node.httpUrl}/api/v1/system/health`, { headers: auth() });
  return (body.actors as { name: string; events: number }[]).filter((actor) => actor.name.startsWith("partition-")).map((actor) => actor.events);
}
