// Decodes one WAL message into events, whatever format its publisher chose:
// a FlatBuffers batch (sniffed by its identifier), a JSON array, NDJSON, or text lines.

import type { NormalizedEvent } from "../protocol/event.ts";
import type { PayloadFormat } from "../protocol/subjects.ts";
import { decodeBatch, isWalBatch } from "../protocol/wal-batch.ts";
import { parseJsonBody, parseNdjsonBody, parseTextBody } from "./body.ts";
import { IngestError } from "./errors.ts";

export interface DecodedPayload {
  format: PayloadFormat;
  events: NormalizedEvent[];
  rejected: { line: number; error: string }[];
  rejectedCount: number;
}

export interface PayloadContext {
  format?: PayloadFormat;
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

export function decodeWalPayload(bytes: Uint8Array, context: PayloadContext): DecodedPayload {
  const format = context.format ?? sniffFormat(bytes);
  if (format === "flatbuffers") {
    const decoded = decodeBatch(bytes);
    if (!decoded.ok) return { format, events: [], rejected: [{ line: 0, error: `${decoded.code}: ${decoded.error}` }], rejectedCount: 1 };
    return { format, events: decoded.events, rejected: [], rejectedCount: 0 };
  }
  const text = decoder.decode(bytes);
  try {
    const parsed = format === "json" ? parseJsonBody(text) : format === "ndjson" ? parseNdjsonBody(text) : parseTextBody(text, { service: context.service, hostname: context.hostname, nowUs: context.nowUs });
    return { format, events: parsed.events, rejected: parsed.rejected, rejectedCount: parsed.rejectedCount ?? parsed.rejected.length };
  } catch (error) {
    if (error instanceof IngestError) return { format, events: [], rejected: [{ line: 0, error: error.message }], rejectedCount: 1 };
    throw error;
  }
}
