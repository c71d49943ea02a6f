// Request bodies to events: a JSON object or array, NDJSON, or plain-text lines.
//
// Bad records are rejected one by one, with their 1-based line number (or, in a JSON
// array, element index), and the good events of the same body are kept (DESIGN.md,
// invariant 4). Only a body that cannot be taken at all throws an IngestError: not
// JSON, empty, a line over INGEST_LINE_BYTES_MAX, or more than
// INGEST_EVENTS_PER_REQUEST_MAX records (a record is an array element or a non-blank
// line, accepted or not). Blank lines (empty or only whitespace) are skipped but still
// counted, so line numbers match what an editor shows; a `\r\n` terminator is
// accepted, and a leading byte-order mark is ignored.

import type { NormalizedEvent } from "../protocol/event.ts";
import { IngestError } from "./errors.ts";
import {
  INGEST_EVENTS_PER_REQUEST_MAX,
  INGEST_LINE_BYTES_MAX,
  INGEST_REJECTIONS_REPORTED_MAX,
} from "./limits.ts";
import { jsonTypeName, normalizeRecord } from "./normalize.ts";
import { utf8LengthOver } from "./utf8.ts";
import { parseTextLine, type TextLineDefaults } from "./text-line.ts";
import type { PayloadFormat } from "../protocol/subjects.ts";

/** One refused record: where it was (1-based line, or element index in a JSON array) and why. */
export interface Rejection {
  line: number;
  error: string;
}

/** What a body held: its good events and its rejections. */
export interface ParsedBody {
  events: NormalizedEvent[];
  /** The first INGEST_REJECTIONS_REPORTED_MAX rejections, in body order. */
  rejected: Rejection[];
  /** All rejections, including those past the reporting cap. */
  rejectedCount: number;
}

const CHAR_TAB = 9;
const CHAR_NEWLINE = 10;
const CHAR_RETURN = 13;
const CHAR_SPACE = 32;
const BYTE_ORDER_MARK = 0xfeff;

/** A body that is one JSON object, or a JSON array of objects. */
export function parseJsonBody(text: string): ParsedBody {
  text = withoutByteOrderMark(text);
  if (isBlank(text, 0, text.length)) throw emptyBody();
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new IngestError("invalid_json", `request body is not valid JSON: ${errorMessage(error)}`, { cause: error });
  }
  const body = newBody();
  if (!Array.isArray(value)) {
    if (typeof value !== "object" || value === null) {
      throw new IngestError(
        "invalid_json",
        `request body must be a JSON object or an array of objects, got ${jsonTypeName(value)}`,
      );
    }
    addRecord(body, value, 1);
    return finished(body);
  }
  if (value.length > INGEST_EVENTS_PER_REQUEST_MAX) throw tooManyEvents(`the array has ${value.length} elements`);
  for (let index = 0; index < value.length; index++) addRecord(body, value[index], index + 1);
  return finished(body);
}

/** Newline-delimited JSON: one object per line. */
export function parseNdjsonBody(text: string): ParsedBody {
  const body = newBody();
  let records = 0;
  forEachLine(text, (line, lineNumber) => {
    if (++records > INGEST_EVENTS_PER_REQUEST_MAX) throw tooManyEvents(`line ${lineNumber} is past the limit`);
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      reject(body, lineNumber, `invalid JSON: ${errorMessage(error)}`);
      return;
    }
    addRecord(body, value, lineNumber);
  });
  return finished(body);
}

/** The body formats both HTTP ingest and the WAL consumer read. */
export type BodyFormat = Exclude<PayloadFormat, "flatbuffers">;

/** Parses a body of a known format; `textDefaults` is asked only for text (HTTP validates its query parameters there). */
export function parseBodyAs(format: BodyFormat, text: string, textDefaults: () => TextLineDefaults): ParsedBody {
  if (format === "json") return parseJsonBody(text);
  if (format === "ndjson") return parseNdjsonBody(text);
  return parseTextBody(text, textDefaults());
}

/** Plain text: one event per non-blank line (see parseTextLine); never rejects a line. */
export function parseTextBody(text: string, defaults: TextLineDefaults): ParsedBody {
  const body = newBody();
  const events = body.events;
  forEachLine(text, (line, lineNumber) => {
    if (events.length === INGEST_EVENTS_PER_REQUEST_MAX) throw tooManyEvents(`line ${lineNumber} is past the limit`);
    events.push(parseTextLine(line, defaults));
  });
  return finished(body);
}

/**
 * Calls `visit` with each non-blank line (terminator and trailing `\r` removed) and its
 * 1-based number; throws line_too_long for a line over INGEST_LINE_BYTES_MAX.
 */
function forEachLine(text: string, visit: (line: string, lineNumber: number) => void): void {
  let start = text.charCodeAt(0) === BYTE_ORDER_MARK ? 1 : 0;
  let lineNumber = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    const next = end + 1;
    lineNumber++;
    if (end > start && text.charCodeAt(end - 1) === CHAR_RETURN) end--;
    checkLineBytes(text, start, end, lineNumber);
    if (!isBlank(text, start, end)) visit(text.slice(start, end), lineNumber);
    start = next;
  }
}

/** True when `text[start, end)` holds only spaces, tabs, `\r` and `\n` (JSON's whitespace). */
export function isBlank(text: string, start: number, end: number): boolean {
  for (let index = start; index < end; index++) {
    const code = text.charCodeAt(index);
    if (code !== CHAR_SPACE && code !== CHAR_TAB && code !== CHAR_RETURN && code !== CHAR_NEWLINE) return false;
  }
  return true;
}

/** Throws line_too_long when the line's UTF-8 encoding exceeds INGEST_LINE_BYTES_MAX. */
function checkLineBytes(text: string, start: number, end: number, lineNumber: number): void {
  const bytes = utf8LengthOver(text, INGEST_LINE_BYTES_MAX, start, end);
  if (bytes === 0) return;
  throw new IngestError(
    "line_too_long",
    `line ${lineNumber} is ${bytes} bytes, over the limit of ${INGEST_LINE_BYTES_MAX} bytes per line`,
  );
}

function newBody(): ParsedBody {
  return { events: [], rejected: [], rejectedCount: 0 };
}

function addRecord(body: ParsedBody, value: unknown, line: number): void {
  const result = normalizeRecord(value);
  if (result.ok) body.events.push(result.event);
  else reject(body, line, result.error);
}

function reject(body: ParsedBody, line: number, error: string): void {
  body.rejectedCount++;
  if (body.rejected.length < INGEST_REJECTIONS_REPORTED_MAX) body.rejected.push({ line, error });
}

function finished(body: ParsedBody): ParsedBody {
  if (body.events.length === 0 && body.rejectedCount === 0) throw emptyBody();
  return body;
}

function emptyBody(): IngestError {
  return new IngestError("empty_body", "request body holds no events");
}

function tooManyEvents(where: string): IngestError {
  return new IngestError(
    "too_many_events",
    `request body holds more than ${INGEST_EVENTS_PER_REQUEST_MAX} events (${where}); split it into smaller requests`,
  );
}

function withoutByteOrderMark(text: string): string {
  return text.charCodeAt(0) === BYTE_ORDER_MARK ? text.slice(1) : text;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
