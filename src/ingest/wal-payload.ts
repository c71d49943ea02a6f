// Recognizes a WAL message's format, and decodes the JSON and text formats into events.
// FlatBuffers batches are read by the partition actor itself (visitBatch), straight
// into rows, never through NormalizedEvent objects.

import type { NormalizedEvent } from "../protocol/event.ts";
import type { PayloadFormat } from "../protocol/subjects.ts";
import { isWalBatch } from "../protocol/wal-batch.ts";
import { parseJsonBody, parseNdjsonBody, parseTextBody } from "./body.ts";
import { IngestError } from "./errors.ts";

/** The formats decodeTextPayload reads. */
export type TextPayloadFormat = Exclude<PayloadFormat, "flatbuffers">;

export interface DecodedPayload {
  format: TextPayloadFormat;
  events: NormalizedEvent[];
  rejected: { line: number; error: string }[];
  rejectedCount: number;
}

export interface PayloadContext {
  format: TextPayloadFormat;
  service: string;
  hostname: string;
  nowUs: number;
}

const decoder = new TextDecoder();

function firstNonSpace(bytes: Uint8Array): number {
  for (let index = 0; index < bytes.length && index < 4096; index++) {
    const byte = bytes[index];
    if (byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09) return byte;
  }
  return -1;
}

export function sniffFormat(bytes: Uint8Array): PayloadFormat {
  if (isWalBatch(bytes)) return "flatbuffers";
  const first = firstNonSpace(bytes);
  if (first === 0x5b /* [ */) return "json";
  if (first === 0x7b /* { */) return "ndjson";
  return "text";
}

export function decodeTextPayload(bytes: Uint8Array, context: PayloadContext): DecodedPayload {
  const format = context.format;
  const text = decoder.decode(bytes);
  try {
    const parsed = format === "json" ? parseJsonBody(text) : format === "ndjson" ? parseNdjsonBody(text) : parseTextBody(text, { service: context.service, hostname: context.hostname, nowUs: context.nowUs });
    return { format, events: parsed.events, rejected: parsed.rejected, rejectedCount: parsed.rejectedCount };
  } catch (error) {
    if (error instanceof IngestError) return { format, events: [], rejected: [{ line: 0, error: error.message }], rejectedCount: 1 };
    throw error;
  }
}
