// Goal: compressed WAL messages ingest, and bad ones cannot hurt the node. A logger
// with gzip or zstd compression, in either wire format, publishes messages that carry
// Content-Encoding and are smaller than their content, and the node stores exactly
// their events. A compressed message that would inflate past WAL_DECOMPRESSED_BYTES_MAX
// (a "gzip bomb"), a corrupt one and one with an unknown encoding are each rejected
// whole: reported on the rejects subject with a code naming why, counted in the
// partition's `rejected`, logged, the partition never restarted, and the good messages
// published around them on the same shard all stored.
// Method: one real node; loggers on the test's connection; a tap on the WAL subjects;
// the bad messages published by hand with JetStream to one shard between good ones;
// counts and the partition's health read back over HTTP.

import { describe, expect, test } from "bun:test";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { gzipSync } from "node:zlib";
import { FORMAT_HEADER, walSubject } from "../src/protocol/subjects.ts";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { compressWalPayload, CONTENT_ENCODING_HEADER, WAL_DECOMPRESSED_BYTES_MAX } from "../src/protocol/wal-compression.ts";
import { createLogger } from "../src/sdk/logger.ts";
import type { Compression, WireFormat } from "../src/sdk/options.ts";
import { countEvents, getJson } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";
import { useTappedNode } from "./helpers/tapped-node.ts";

const sluice = useTappedNode({ shards: 2 });

const count = (query: string) => countEvents(sluice.node.httpUrl, query);
const encoder = new TextEncoder();

describe("compressed batches from the logger", () => {
  test.each<[WireFormat, Exclude<Compression, "none">]>([
    ["flatbuffers", "gzip"],
    ["flatbuffers", "zstd"],
    ["ndjson", "gzip"],
    ["ndjson", "zstd"],
  ])("%s compressed with %s is stored exactly", async (format, compression) => {
    const service = `sdk-${format}-${compression}`;
    const logger = createLogger({ nc: sluice.nc, service, format, compression, flushOnExit: false, batchEventsMax: 500, batchAgeMs: 0 });
    for (let index = 0; index < 1000; index++) logger.warn(`checkout request ${index} took ${index % 97} ms`, { trace_id: `${service}-${index}`, route: "/api/orders" });
    expect(await logger.close()).toMatchObject({ acked: 1000, failedEvents: 0 });
    const messages = sluice.tap.of(service);
    expect(messages.length).toBeGreaterThanOrEqual(2);
    expect(messages.every((message) => message.encodingHeader === compression && message.formatHeader === format && !message.walBatch)).toBe(true);
    // Compressed on the wire: well under the ~100 bytes of text per event.
    const wireBytes = messages.reduce((sum, message) => sum + message.bytes, 0);
    expect(wireBytes).toBeLessThan(1000 * 40);
    await waitFor(async () => (await count(`service=${service}`)) === 1000, { what: `1000 ${service} events` });
    const { body } = await getJson(`${sluice.node.httpUrl}/api/v1/logs/search?trace_id=${service}-500`);
    expect(body.logs.map((log: Record<string, unknown>) => [log.level, log.message, log.metadata])).toEqual([["WARN", "checkout request 500 took 15 ms", { route: "/api/orders" }]]);
  });
});

describe("bad compressed messages", () => {
  test("a bomb, a corrupt payload and an unknown encoding are rejected whole; the good messages around them on the shard are stored", async () => {
    const js = jetstream(sluice.nc);
    const subject = walSubject("default", 0);
    const rejects: { seq: number; count: number; rejected: { error: string }[] }[] = [];
    const subscription = sluice.nc.subscribe("sluice.rejects.default", { callback: (_error, message) => void rejects.push(message.json()) });
    await sluice.nc.flush();
    const before = await partition0();

    const encoded = (encoding: string, format: string) => {
      const headers = natsHeaders();
      headers.set(CONTENT_ENCODING_HEADER, encoding);
      headers.set(FORMAT_HEADER, format);
      return headers;
    };
    const ndjson = (tag: string) => encoder.encode([1, 2, 3].map((index) => JSON.stringify({ service: "sdk-bomb-good", message: `${tag} ${index}` })).join("\n"));
    // Lines of valid NDJSON, so it is the size alone that is refused: one byte past the cap.
    const line = `${JSON.stringify({ service: "sdk-bomb-bad", message: "x".repeat(200) })}\n`;
    const bombText = line.repeat(Math.ceil((WAL_DECOMPRESSED_BYTES_MAX + 1) / line.length));
    const bomb = gzipSync(encoder.encode(bombText), { level: 9 });
    expect(bomb.byteLength).toBeLessThan(1024 * 1024);

    const acks = [];
    acks.push(await js.publish(subject, ndjson("plain before")));
    acks.push(await js.publish(subject, bomb, { headers: encoded("gzip", "ndjson") }));
    acks.push(await js.publish(subject, compressWalPayload(ndjson("gzip between"), "gzip"), { headers: encoded("gzip", "ndjson") }));
    acks.push(await js.publish(subject, encoder.encode("\x1f\x8b\x08 not really gzip"), { headers: encoded("gzip", "ndjson") }));
    acks.push(await js.publish(subject, compressWalPayload(ndjson("brotli?"), "gzip"), { headers: encoded("br", "ndjson") }));
    const batch = encodeBatch([1, 2, 3].map((index) => ({ timestampUs: Date.now() * 1000, level: "INFO" as const, service: "sdk-bomb-good", hostname: "", traceId: "", spanId: "", message: `zstd after ${index}`, metadata: "{}" })));
    acks.push(await js.publish(subject, compressWalPayload(batch, "zstd"), { headers: encoded("zstd", "flatbuffers") }));
    const [bombSeq, corruptSeq, unknownSeq] = [acks[1].seq, acks[3].seq, acks[4].seq];

    await waitFor(async () => (await count("service=sdk-bomb-good")) === 9, { what: "the 9 good events" });
    await waitFor(() => rejects.length >= 3, { what: "three rejection reports" });
    subscription.unsubscribe();
    const reports = rejects.filter((report) => [bombSeq, corruptSeq, unknownSeq].includes(report.seq)).sort((a, b) => a.seq - b.seq);
    expect(reports.map((report) => [report.seq, report.count, report.rejected[0].error.split(":")[0]])).toEqual([
      [bombSeq, 1, "decompressed_too_large"],
      [corruptSeq, 1, "corrupt_compression"],
      [unknownSeq, 1, "unknown_encoding"],
    ]);
    expect(reports[0].rejected[0].error).toBe(`decompressed_too_large: gzip payload of ${bomb.byteLength} bytes inflates past the limit of ${WAL_DECOMPRESSED_BYTES_MAX} bytes`);
    expect(await count("service=sdk-bomb-bad")).toBe(0);
    const { body } = await getJson(`${sluice.node.httpUrl}/api/v1/logs/search?service=sdk-bomb-good&order=oldest`);
    expect(body.logs.map((log: { message: string }) => log.message).sort()).toEqual(["gzip between 1", "gzip between 2", "gzip between 3", "plain before 1", "plain before 2", "plain before 3", "zstd after 1", "zstd after 2", "zstd after 3"]);

    const after = await partition0();
    expect({ state: after.state, restarts: after.restarts, rejected: after.rejected - before.rejected }).toEqual({ state: "running", restarts: before.restarts, rejected: 3 });
    expect(sluice.node.output()).toContain(`rejected 1 event(s) of WAL message ${bombSeq}: decompressed_too_large`);
  });
});

async function partition0(): Promise<{ state: string; restarts: Record<string, number>; rejected: number }> {
  const { body } = await getJson(`${sluice.node.httpUrl}/api/v1/system/health`);
  return (body.actors as { name: string; state: string; restarts: Record<string, number>; rejected: number }[]).find((actor) => actor.name === "partition-0")!;
}
