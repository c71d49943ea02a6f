// Opens a WAL message: inflates it when its Content-Encoding header says it is
// compressed (src/protocol/wal-compression.ts, with a cap on the inflated size),
// recognizes its format, and decodes the JSON and text formats into events.
// FlatBuffers batches are read by the partition actor itself (visitBatch), straight
// into rows, never through NormalizedEvent objects.

import type { MsgHdrs } from "@nats-io/transport-node";
import { FORMAT_HEADER, HOSTNAME_HEADER, PAYLOAD_FORMATS, SERVICE_HEADER, type PayloadFormat } from "../protocol/subjects.ts";
import { isWalBatch } from "../protocol/wal-batch.ts";
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

/**
 * The format of a WAL message: its format header when it names a known format, else sniffed.
 */
export function walPayloadFormat(data: Uint8Array, headers: MsgHdrs | undefined): PayloadFormat {
  const formatHeader = headers?.get(FORMAT_HEADER);
  return formatHeader && (PAYLOAD_FORMATS as readonly string[]).includes(formatHeader) ? (formatHeader as PayloadFormat) : sniffFormat(data);
}

/** A WAL message's payload as its consumer reads it: inflated, with its format; or why it cannot be read. */
export type OpenedWalPayload = { ok: true; bytes: Uint8Array; format: PayloadFormat } | { ok: false; code: WalDecompressErrorCode; error: string };

/**
 * Every WAL message goes through here before it is read: a compressed payload is
 * inflated (at most WAL_DECOMPRESSED_BYTES_MAX bytes), then its format is found as
 * walPayloadFormat does on the inflated bytes. A payload that cannot be inflated (an
 * unknown encoding, corrupt data, or past the cap) is an error value: the consumer
 * rejects that one message, reports it and goes on with the next.
 */
export function openWalPayload(data: Uint8Array, headers: MsgHdrs | undefined, limitBytes?: number): OpenedWalPayload {
  const encoding = headers?.get(CONTENT_ENCODING_HEADER, "insensitive");
  if (!encoding) return { ok: true, bytes: data, format: walPayloadFormat(data, headers) };
  const inflated = decompressWalPayload(data, encoding, limitBytes);
  if (!inflated.ok) return inflated;
  return { ok: true, bytes: inflated.bytes, format: walPayloadFormat(inflated.bytes, headers) };
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
