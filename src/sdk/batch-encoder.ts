// Turns a batch of normalized events into WAL message payloads: a FlatBuffers batch
// (the default; the node reads it straight into rows) or NDJSON, optionally compressed
// (gzip or zstd, named in a Content-Encoding header the node inflates with a cap).
// A payload larger than the server takes is split in halves until each part fits, so
// every part can be published, and retried, as one message with one message id.

import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { NormalizedEvent } from "../protocol/event.ts";
import { FORMAT_HEADER } from "../protocol/subjects.ts";
import { compressWalPayload, CONTENT_ENCODING_HEADER } from "../protocol/wal-compression.ts";
import { formatTimestampUs } from "../ingest/timestamp.ts";
import { encodeBatchUnlessOverLimit, splitEncoded, type EncodedBatch } from "../ingest/wal-publisher.ts";
import type { Compression, WireFormat } from "./options.ts";

export interface WireEncoding {
  format: WireFormat;
  compression: Compression;
  /** Largest payload one message may carry (the server's max_payload less headroom). */
  payloadBytesMax: number;
}

const textEncoder = new TextEncoder();

/** One NDJSON line that the node normalizes back into the same event (metadata goes as its JSON text). */
export function ndjsonLine(event: NormalizedEvent): string {
  let line = "{";
  if (event.timestampUs > 0) line += `"timestamp":"${formatTimestampUs(event.timestampUs)}",`;
  line += `"level":"${event.level}"`;
  if (event.service !== "") line += `,"service":${JSON.stringify(event.service)}`;
  if (event.hostname !== "") line += `,"hostname":${JSON.stringify(event.hostname)}`;
  if (event.traceId !== "") line += `,"trace_id":${JSON.stringify(event.traceId)}`;
  if (event.spanId !== "") line += `,"span_id":${JSON.stringify(event.spanId)}`;
  line += `,"message":${JSON.stringify(event.message)}`;
  if (event.metadata !== "{}") line += `,"metadata":${event.metadata}`;
  return `${line}}`;
}

/**
 * Encodes events as one or more payloads of at most `payloadBytesMax` bytes each, in
 * order (the WAL publisher's splitEncoded, on the compressed size when compressed).
 */
export function encodeWireBatches(events: readonly NormalizedEvent[], encoding: WireEncoding): EncodedBatch[] {
  return splitEncoded(events, encoding.payloadBytesMax, (slice) => {
    const raw = encoding.format === "ndjson" ? textEncoder.encode(slice.map(ndjsonLine).join("\n") + "\n") : encodeBatchUnlessOverLimit(slice);
    return raw === null || encoding.compression === "none" ? raw : compressWalPayload(raw, encoding.compression);
  });
}

/**
 * Headers of every message of an encoding: the format, stated rather than sniffed,
 * whenever it is NDJSON or compressed (compressed bytes cannot be sniffed), and the
 * compression. An uncompressed FlatBuffers batch needs none, as from the producer helper.
 */
export function wireHeaders(format: WireFormat, compression: Compression): MsgHdrs | undefined {
  if (format === "flatbuffers" && compression === "none") return undefined;
  const headers = natsHeaders();
  headers.set(FORMAT_HEADER, format);
  if (compression !== "none") headers.set(CONTENT_ENCODING_HEADER, compression);
  return headers;
}
