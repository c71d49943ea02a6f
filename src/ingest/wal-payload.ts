// Opens a WAL message: inflates it when its Content-Encoding header says it is
// compressed (src/protocol/wal-compression.ts, with a cap on the inflated size),
// recognizes its format, and decodes the JSON and text formats into events.
// FlatBuffers batches are read by the partition actor itself (visitBatch), straight
// into rows, never through NormalizedEvent objects; the live tail decodes them whole.

import type { MsgHdrs } from "@nats-io/transport-node";
import type { NormalizedEvent } from "../protocol/event.ts";
import { FORMAT_HEADER, HOSTNAME_HEADER, PAYLOAD_FORMATS, SERVICE_HEADER, type PayloadFormat } from "../protocol/subjects.ts";
import { decodeBatch, isWalBatch } from "../protocol/wal-batch.ts";
import { CONTENT_ENCODING_HEADER, decompressWalPayload, type WalDecompressErrorCode } from "../protocol/wal-compression.ts";
import { parseBodyAs, type BodyFormat, type ParsedBody } from "./body.ts";
import type { TextLineDefaults } from "./text-line.ts";
import { IngestError } from "./errors.ts";

const decoder = new TextDecoder();

function firstNonSpace(bytes: Uint8Array): number {
  for (let index = 0; index < bytes.length && index < 4096; index++) {
    const byte = bytes[index];
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return byte;
  }
  return -1;
}

function sniffFormat(bytes: Uint8Array): PayloadFormat {
  if (isWalBatch(bytes)) return "flatbuffers";
  const first = firstNonSpace(bytes);
  if (first === 0x5b /* [ */) return "json";
  if (first === 0x7b /* { */) return "ndjson";
  return "text";
}

/** The format of a WAL message: its format header when it names a known format, else sniffed. */
function payloadFormat(data: Uint8Array, formatHeader: string | undefined): PayloadFormat {
  return formatHeader && (PAYLOAD_FORMATS as readonly string[]).includes(formatHeader) ? (formatHeader as PayloadFormat) : sniffFormat(data);
}

const CONTENT_ENCODING_LOWER = CONTENT_ENCODING_HEADER.toLowerCase();

/** A WAL message's payload as its consumer reads it: inflated, with its format; or why it cannot be read. */
type OpenedWalPayload = { ok: true; bytes: Uint8Array; format: PayloadFormat } | { ok: false; code: WalDecompressErrorCode; error: string };

/**
 * Every WAL message goes through here before it is read: a compressed payload is
 * inflated (at most WAL_DECOMPRESSED_BYTES_MAX bytes), then its format is found from
 * its format header or the inflated bytes. A payload that cannot be inflated (an
 * unknown encoding, corrupt data, or past the cap) is an error value: the consumer
 * rejects that one message, reports it and goes on with the next.
 */
export function openWalPayload(data: Uint8Array, headers: MsgHdrs | undefined): OpenedWalPayload {
  // One pass over the headers finds both: the format by its exact name, the encoding in
  // any case (as HTTP's). An uncompressed message pays no more than its format lookup.
  let formatHeader: string | undefined;
  let encoding: string | undefined;
  if (headers) {
    for (const [key, values] of headers) {
      if (key === FORMAT_HEADER) formatHeader = values[0];
      else if (encoding === undefined && key.length === CONTENT_ENCODING_LOWER.length && key.toLowerCase() === CONTENT_ENCODING_LOWER) encoding = values[0] ?? "";
    }
  }
  if (!encoding) return { ok: true, bytes: data, format: payloadFormat(data, formatHeader) };
  const inflated = decompressWalPayload(data, encoding);
  if (!inflated.ok) return inflated;
  return { ok: true, bytes: inflated.bytes, format: payloadFormat(inflated.bytes, formatHeader) };
}

/**
 * Decodes a JSON, NDJSON or text WAL message; plain-text lines take their service and
 * host from the message's headers. A message that is wholly unreadable is one
 * rejection, never a throw: the consumer reports it and acks the message.
 */
export function decodeTextPayload(bytes: Uint8Array, format: BodyFormat, headers: MsgHdrs | undefined, nowUs: number): ParsedBody {
  // Only plain text asks for the defaults: JSON and NDJSON messages never read the headers.
  const textDefaults = (): TextLineDefaults => ({ service: headers?.get(SERVICE_HEADER) || "", hostname: headers?.get(HOSTNAME_HEADER) || "", nowUs });
  try {
    return parseBodyAs(format, decoder.decode(bytes), textDefaults);
  } catch (error) {
    if (error instanceof IngestError) return { events: [], rejected: [{ line: 0, error: error.message }], rejectedCount: 1 };
    throw error;
  }
}

/**
 * Every event of a WAL message, decoded into objects (the live tail; the partition
 * actor reads FlatBuffers straight into rows instead). A message that cannot be
 * opened, or a batch that fails its checks, has none; bad lines are left out.
 */
export function decodeWalEvents(data: Uint8Array, headers: MsgHdrs | undefined, nowUs: number): NormalizedEvent[] {
  const opened = openWalPayload(data, headers);
  if (!opened.ok) return [];
  if (opened.format === "flatbuffers") {
    const batch = decodeBatch(opened.bytes);
    return batch.ok ? batch.events : [];
  }
  return decodeTextPayload(opened.bytes, opened.format, headers, nowUs).events;
}
