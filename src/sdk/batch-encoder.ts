// Turns a batch of normalized events into WAL message payloads: a FlatBuffers batch
// (the default; the node reads it straight into rows) or NDJSON, optionally compressed
// (gzip or zstd, named in a Content-Encoding header the node inflates with a cap).
// A payload larger than the server takes is split in halves until each part fits, so
// every part can be published, and retried, as one message with one message id.

import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import type { NormalizedEvent } from "../protocol/event.ts";
import { FORMAT_HEADER } from "../protocol/subjects.ts";
import { encodeBatch, WalBatchEncodeError } from "../protocol/wal-batch.ts";
import { compressWalPayload, CONTENT_ENCODING_HEADER } from "../protocol/wal-compression.ts";
import type { Compression, WireFormat } from "./options.ts";

export interface WireBatch {
  /** The payload as published (compressed when asked). */
  payload: Uint8Array;
  /** Events it carries. */
  count: number;
}

export interface WireEncoding {
  format: WireFormat;
  compression: Compression;
  /** Largest payload one message may carry (the server's max_payload less headroom). */
  payloadBytesMax: number;
}

const textEncoder = new TextEncoder();

/** RFC 3339 with microseconds, UTC: what the node's timestamp parser reads back exactly. */
export function formatTimestampUs(timestampUs: number): string {
  const milliseconds = Math.floor(timestampUs / 1000);
  const iso = new Date(milliseconds).toISOString(); // 2026-11-21T10:00:00.123Z
  const micros = String(timestampUs - milliseconds * 1000).padStart(3, "0");
  return `${iso.slice(0, -1)}${micros}Z`;
}

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

/** The uncompressed payload of a batch, or null when it cannot be one message (it must be split). */
function encodeRaw(events: readonly NormalizedEvent[], format: WireFormat): Uint8Array | null {
  if (format === "ndjson") return textEncoder.encode(events.map(ndjsonLine).join("\n") + "\n");
  try {
    return encodeBatch(events);
  } catch (error) {
    if (error instanceof WalBatchEncodeError && error.code === "over_limit" && events.length > 1) return null;
    throw error;
  }
}

/**
 * Encodes events as one or more payloads of at most `payloadBytesMax` bytes each,
 * in order. A single event that is larger still goes alone: its publish fails and is
 * counted, rather than the batch around it.
 */
export function encodeWireBatches(events: readonly NormalizedEvent[], encoding: WireEncoding): WireBatch[] {
  const out: WireBatch[] = [];
  const take = (slice: readonly NormalizedEvent[]): void => {
    if (slice.length === 0) return;
    const raw = encodeRaw(slice, encoding.format);
    const payload = raw === null ? null : encoding.compression === "none" ? raw : compressWalPayload(raw, encoding.compression);
    if (payload !== null && (payload.byteLength <= encoding.payloadBytesMax || slice.length === 1)) {
      out.push({ payload, count: slice.length });
      return;
    }
    const middle = slice.length >>> 1;
    take(slice.slice(0, middle));
    take(slice.slice(middle));
  };
  take(events);
  return out;
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
