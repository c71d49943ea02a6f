// Goal: what the SDK puts on the wire is what the node reads back. A FlatBuffers batch
// decodes to the same events; an NDJSON line normalizes (with the HTTP rules) back to
// the same event, microseconds and metadata included; gzip and zstd payloads inflate
// to the same bytes through openWalPayload, which every WAL message goes through on
// the node; a payload that inflates past the cap, a corrupt one and an unknown
// encoding are each an error value naming the problem, never a throw; a batch over the
// payload bound is split into parts that each fit; the headers state format and
// compression.
// Method: pure; encoder, openWalPayload and decompressWalPayload over tables.

import { describe, expect, test } from "bun:test";
import { gzipSync } from "node:zlib";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { decodeBatch } from "../src/protocol/wal-batch.ts";
import { compressWalPayload, CONTENT_ENCODING_HEADER, decompressWalPayload, WAL_DECOMPRESSED_BYTES_MAX, type WalEncoding } from "../src/protocol/wal-compression.ts";
import { FORMAT_HEADER } from "../src/protocol/subjects.ts";
import { normalizeRecord } from "../src/ingest/normalize.ts";
import { openWalPayload } from "../src/ingest/wal-payload.ts";
import { encodeWireBatches, ndjsonLine, wireHeaders } from "../src/sdk/batch-encoder.ts";
import { formatTimestampUs } from "../src/ingest/timestamp.ts";
import type { Compression, WireFormat } from "../src/sdk/options.ts";

const EVENTS: NormalizedEvent[] = [
  { timestampUs: 1_763_719_200_123_456, level: "ERROR", service: "pay", hostname: "pay-1", traceId: "t-1", spanId: "s-1", message: 'card "declined"\nline two ✓', metadata: '{"amount":12.5,"nested":{"a":[1,2]}}' },
  { timestampUs: 1_763_719_200_000_001, level: "INFO", service: "", hostname: "", traceId: "", spanId: "", message: "", metadata: "{}" },
  { timestampUs: 86_400_000_000, level: "TRACE", service: "old", hostname: "h", traceId: "", spanId: "", message: "1970", metadata: "{}" },
];

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The events of one payload as the node reads them: openWalPayload, then the batch decoder or the NDJSON normalizer. */
function decodePart(payload: Uint8Array, format: WireFormat, compression: Compression): NormalizedEvent[] {
  const opened = openWalPayload(payload, wireHeaders(format, compression));
  if (!opened.ok) throw new Error(opened.error);
  expect(opened.format).toBe(format);
  if (format === "flatbuffers") return (decodeBatch(opened.bytes) as { events: NormalizedEvent[] }).events;
  return decoder.decode(opened.bytes).trimEnd().split("\n").map((line) => (normalizeRecord(JSON.parse(line)) as { event: NormalizedEvent }).event);
}

describe("encoding", () => {
  test.each<[number, string]>([
    [1_763_719_200_123_456, "2025-11-21T10:00:00.123456Z"],
    [1_763_719_200_000_001, "2025-11-21T10:00:00.000001Z"],
    [86_400_000_000, "1970-01-02T00:00:00.000000Z"],
  ])("formatTimestampUs(%p) is %p", (us, text) => {
    expect(formatTimestampUs(us)).toBe(text);
  });

  test("each NDJSON line normalizes back to the same event", () => {
    for (const event of EVENTS) expect(normalizeRecord(JSON.parse(ndjsonLine(event)))).toEqual({ ok: true, event });
  });

  test.each<[WireFormat, Compression]>([
    ["flatbuffers", "none"],
    ["flatbuffers", "gzip"],
    ["flatbuffers", "zstd"],
    ["ndjson", "none"],
    ["ndjson", "gzip"],
    ["ndjson", "zstd"],
  ])("%s with compression %s: one message, opened by the node to the same events", (format, compression) => {
    const parts = encodeWireBatches(EVENTS, { format, compression, payloadBytesMax: 1024 * 1024 });
    expect(parts.map((part) => part.count)).toEqual([EVENTS.length]);
    expect(decodePart(parts[0].payload, format, compression)).toEqual(EVENTS);
  });

  test("headers: none for plain FlatBuffers; the format, and the encoding when compressed, otherwise", () => {
    const pairs = (format: WireFormat, compression: Compression) => {
      const headers = wireHeaders(format, compression);
      return headers ? [headers.get(FORMAT_HEADER), headers.get(CONTENT_ENCODING_HEADER)] : null;
    };
    expect([pairs("flatbuffers", "none"), pairs("flatbuffers", "zstd"), pairs("ndjson", "none"), pairs("ndjson", "gzip")]).toEqual([null, ["flatbuffers", "zstd"], ["ndjson", ""], ["ndjson", "gzip"]]);
  });

  test.each<[WireFormat, Compression]>([
    ["flatbuffers", "none"],
    ["ndjson", "none"],
    ["ndjson", "gzip"],
  ])("%s (%s): a batch over the payload bound is split into parts that each fit, in order", (format, compression) => {
    // Random text, so that compression cannot make the whole batch fit.
    const events = Array.from({ length: 300 }, (_, index): NormalizedEvent => ({ ...EVENTS[0], message: `${index} ${Array.from({ length: 6 }, () => crypto.randomUUID()).join(" ")}` }));
    const payloadBytesMax = 8 * 1024;
    const parts = encodeWireBatches(events, { format, compression, payloadBytesMax });
    expect(parts.length).toBeGreaterThan(1);
    expect(parts.every((part) => part.payload.byteLength <= payloadBytesMax)).toBe(true);
    expect(parts.flatMap((part) => decodePart(part.payload, format, compression))).toEqual(events);
  });

  test("a single event larger than the bound still goes, alone (its publish fails, not its neighbours')", () => {
    const big: NormalizedEvent = { ...EVENTS[1], message: "x".repeat(20_000) };
    const parts = encodeWireBatches([EVENTS[0], big, EVENTS[1]], { format: "flatbuffers", compression: "none", payloadBytesMax: 4096 });
    expect(parts.map((part) => part.count)).toEqual([1, 1, 1]);
  });
});

describe("decompressWalPayload and openWalPayload", () => {
  const text = encoder.encode('{"message":"hello"}\n'.repeat(1000));

  test.each<WalEncoding>(["gzip", "zstd"])("%s round-trips; the header is read in any case and trimmed", (encoding) => {
    const compressed = compressWalPayload(text, encoding);
    expect(compressed.byteLength).toBeLessThan(text.byteLength / 10);
    expect(decompressWalPayload(compressed, ` ${encoding.toUpperCase()} `)).toEqual({ ok: true, bytes: text });
    const headers = natsHeaders();
    headers.set("content-encoding", encoding);
    expect(openWalPayload(compressed, headers)).toEqual({ ok: true, bytes: text, format: "ndjson" });
  });

  test("no header and identity pass the bytes through untouched", () => {
    expect(openWalPayload(text, undefined)).toEqual({ ok: true, bytes: text, format: "ndjson" });
    expect(decompressWalPayload(text, "identity")).toEqual({ ok: true, bytes: text });
  });

  test.each<WalEncoding>(["gzip", "zstd"])("%s: a bomb stops at the cap, fast and without inflating it all", (encoding) => {
    const bomb = compressWalPayload(new Uint8Array(WAL_DECOMPRESSED_BYTES_MAX + 1), encoding);
    const startedAt = performance.now();
    const result = decompressWalPayload(bomb, encoding);
    expect(performance.now() - startedAt).toBeLessThan(2_000);
    expect(result).toEqual({ ok: false, code: "decompressed_too_large", error: `${encoding} payload of ${bomb.byteLength} bytes inflates past the limit of ${WAL_DECOMPRESSED_BYTES_MAX} bytes` });
    // Exactly at the cap is accepted.
    expect(decompressWalPayload(compressWalPayload(new Uint8Array(4096), encoding), encoding, 4096)).toMatchObject({ ok: true });
    expect(decompressWalPayload(compressWalPayload(new Uint8Array(4097), encoding), encoding, 4096)).toMatchObject({ ok: false, code: "decompressed_too_large" });
  });

  test.each<[string, Uint8Array, string, string]>([
    ["garbage as gzip", encoder.encode("not gzip at all"), "gzip", "gzip payload of 15 bytes does not inflate: "],
    ["garbage as zstd", encoder.encode("not zstd at all"), "zstd", "zstd payload of 15 bytes does not inflate: "],
    ["a truncated gzip", gzipSync(encoder.encode("x".repeat(10_000))).subarray(0, 20), "gzip", "gzip payload of 20 bytes does not inflate: "],
  ])("%s is corrupt_compression", (_what, bytes, encoding, prefix) => {
    const result = decompressWalPayload(bytes, encoding);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe("corrupt_compression");
    expect(result.error.startsWith(prefix)).toBe(true);
  });

  test("an unknown encoding is named", () => {
    expect(decompressWalPayload(text, "br")).toEqual({ ok: false, code: "unknown_encoding", error: 'Content-Encoding "br" is not one of identity, gzip, zstd' });
  });
});
