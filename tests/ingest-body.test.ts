// Goal: the body parsers keep the good events of a partially bad body and report each
// bad record with its exact 1-based line (or array element) number, cap the reported
// rejections while still counting them all, and refuse a whole body with a typed
// IngestError (code, status, message naming what and where) when it is empty, not JSON,
// has a line over the byte limit, or holds too many events.
// Method: small hand-written bodies with the expected result compared whole (toEqual);
// JSON syntax errors are compared against the message JSON.parse itself gives.

import { describe, expect, test } from "bun:test";
import { parseJsonBody, parseNdjsonBody, parseTextBody } from "../src/ingest/body.ts";
import { IngestError } from "../src/ingest/errors.ts";
import {
  INGEST_EVENTS_PER_REQUEST_MAX,
  INGEST_LINE_BYTES_MAX,
  INGEST_REJECTIONS_REPORTED_MAX,
} from "../src/ingest/limits.ts";
import type { NormalizedEvent } from "../src/protocol/event.ts";

const TEXT_DEFAULTS = { service: "svc", hostname: "host", nowUs: Date.parse("2026-11-21T12:00:00Z") * 1000 };

function event(message: string, changes: Partial<NormalizedEvent> = {}): NormalizedEvent {
  return { timestampUs: 0, level: "INFO", service: "", hostname: "", traceId: "", spanId: "", message, metadata: "{}", ...changes };
}

function textEvent(message: string, changes: Partial<NormalizedEvent> = {}): NormalizedEvent {
  return event(message, { service: "svc", hostname: "host", ...changes });
}

/** The message JSON.parse gives for `text`, so expectations do not hard-code the engine's wording. */
function jsonSyntaxError(text: string): string {
  try {
    JSON.parse(text);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error(`expected ${text} not to parse`);
}

/** What `run` threw, as a plain object, so that it compares whole. */
function thrown(run: () => unknown): { name: string; code: string; status: number; message: string } {
  try {
    run();
  } catch (error) {
    if (!(error instanceof IngestError)) throw error;
    return { name: error.name, code: error.code, status: error.status, message: error.message };
  }
  throw new Error("expected an IngestError");
}

describe("partial batches keep good events", () => {
  test("NDJSON: blank lines skipped, bad lines rejected with their numbers", () => {
    const body = [
      '{"message":"one","level":"warn"}', // 1
      "", // 2
      '{"message":', // 3 malformed
      "[1,2]", // 4 not an object
      '{"message":"five"}\r', // 5 CRLF
      "   ", // 6 blank
      '{"level":"info"}', // 7 no message
      '{"message":"eight","service":9}', // 8 wrong type
      '{"message":"nine"}', // 9, no final newline
    ].join("\n");
    expect(parseNdjsonBody(body)).toEqual({
      events: [event("one", { level: "WARN" }), event("five"), event("nine")],
      rejected: [
        { line: 3, error: `invalid JSON: ${jsonSyntaxError('{"message":')}` },
        { line: 4, error: "expected a JSON object, got array" },
        { line: 7, error: 'missing field "message"' },
        { line: 8, error: 'field "service" must be a string, got number' },
      ],
      rejectedCount: 4,
    });
  });

  test("JSON array: non-objects and bad objects rejected by 1-based element index", () => {
    const body = '[{"message":"a"}, 1, "x", null, [], {"message":"f","level":"loud"}, {"msg":"g"}]';
    expect(parseJsonBody(body)).toEqual({
      events: [event("a"), event("g")],
      rejected: [
        { line: 2, error: "expected a JSON object, got number" },
        { line: 3, error: "expected a JSON object, got string" },
        { line: 4, error: "expected a JSON object, got null" },
        { line: 5, error: "expected a JSON object, got array" },
        { line: 6, error: 'field "level" has unknown level "loud"' },
      ],
      rejectedCount: 5,
    });
  });

  test("JSON: a single object", () => {
    expect(parseJsonBody('\ufeff {"message":"only","host":"h"} ')).toEqual({
      events: [event("only", { hostname: "h" })],
      rejected: [],
      rejectedCount: 0,
    });
  });

  test("JSON: a single bad object is a rejection, not an error", () => {
    expect(parseJsonBody('{"message":1}')).toEqual({
      events: [],
      rejected: [{ line: 1, error: 'field "message" must be a string, got number' }],
      rejectedCount: 1,
    });
  });

  test("text: one event per non-blank line, CRLF and a byte-order mark handled", () => {
    const body = "\ufeffHDFS-ish\r\n\r\n081109 203615 148 WARN dfs.DataNode: slow\r\n  \nlast line";
    expect(parseTextBody(body, TEXT_DEFAULTS)).toEqual({
      events: [
        textEvent("HDFS-ish"),
        textEvent("081109 203615 148 WARN dfs.DataNode: slow", {
          timestampUs: Date.parse("2008-11-09T20:36:15Z") * 1000,
          level: "WARN",
        }),
        textEvent("last line"),
      ],
      rejected: [],
      rejectedCount: 0,
    });
  });
});

describe("reported rejections are capped, counted in full", () => {
  test("NDJSON with more bad lines than the cap", () => {
    const bad = INGEST_REJECTIONS_REPORTED_MAX + 500;
    const body = `${"{}\n".repeat(bad)}{"message":"good"}\n`;
    const result = parseNdjsonBody(body);
    expect({
      events: result.events,
      reported: result.rejected.length,
      lastReported: result.rejected[result.rejected.length - 1],
      rejectedCount: result.rejectedCount,
    }).toEqual({
      events: [event("good")],
      reported: INGEST_REJECTIONS_REPORTED_MAX,
      lastReported: { line: INGEST_REJECTIONS_REPORTED_MAX, error: 'missing field "message"' },
      rejectedCount: bad,
    });
  });
});

describe("whole-body errors", () => {
  const longLine = "x".repeat(INGEST_LINE_BYTES_MAX + 1);
  // Fewer UTF-16 units than the limit, more UTF-8 bytes: the limit is in bytes.
  const longWideLine = `{"message":"${"é".repeat(INGEST_LINE_BYTES_MAX / 2)}"}`;
  const wideBytes = INGEST_LINE_BYTES_MAX + '{"message":""}'.length;

  test.each([
    ["NDJSON empty", () => parseNdjsonBody(""), "empty_body", 400, "request body holds no events"],
    ["NDJSON only blank lines", () => parseNdjsonBody("\n \r\n\t\n"), "empty_body", 400, "request body holds no events"],
    ["text empty", () => parseTextBody("\n\n", TEXT_DEFAULTS), "empty_body", 400, "request body holds no events"],
    ["JSON empty", () => parseJsonBody("  \n"), "empty_body", 400, "request body holds no events"],
    ["JSON empty array", () => parseJsonBody("[]"), "empty_body", 400, "request body holds no events"],
    [
      "JSON not parseable",
      () => parseJsonBody('{"message":"a"}\n{"message":"b"}'),
      "invalid_json",
      400,
      `request body is not valid JSON: ${jsonSyntaxError('{"message":"a"}\n{"message":"b"}')}`,
    ],
    [
      "JSON scalar",
      () => parseJsonBody("42"),
      "invalid_json",
      400,
      "request body must be a JSON object or an array of objects, got number",
    ],
    [
      "NDJSON line too long",
      () => parseNdjsonBody(`{"message":"a"}\n${longLine}\n{"message":"c"}`),
      "line_too_long",
      413,
      `line 2 is ${INGEST_LINE_BYTES_MAX + 1} bytes, over the limit of ${INGEST_LINE_BYTES_MAX} bytes per line`,
    ],
    [
      "NDJSON line too long in UTF-8 bytes",
      () => parseNdjsonBody(`\n\n${longWideLine}`),
      "line_too_long",
      413,
      `line 3 is ${wideBytes} bytes, over the limit of ${INGEST_LINE_BYTES_MAX} bytes per line`,
    ],
    [
      "text line too long",
      () => parseTextBody(`ok\r\n${longLine}\r\n`, TEXT_DEFAULTS),
      "line_too_long",
      413,
      `line 2 is ${INGEST_LINE_BYTES_MAX + 1} bytes, over the limit of ${INGEST_LINE_BYTES_MAX} bytes per line`,
    ],
    [
      "JSON array too long",
      () => parseJsonBody(`[${"{},".repeat(INGEST_EVENTS_PER_REQUEST_MAX)}{}]`),
      "too_many_events",
      413,
      `request body holds more than ${INGEST_EVENTS_PER_REQUEST_MAX} events (the array has ${INGEST_EVENTS_PER_REQUEST_MAX + 1} elements); split it into smaller requests`,
    ],
    [
      "text body with too many lines",
      () => parseTextBody("x\n".repeat(INGEST_EVENTS_PER_REQUEST_MAX + 1), TEXT_DEFAULTS),
      "too_many_events",
      413,
      `request body holds more than ${INGEST_EVENTS_PER_REQUEST_MAX} events (line ${INGEST_EVENTS_PER_REQUEST_MAX + 1} is past the limit); split it into smaller requests`,
    ],
    [
      "NDJSON body with too many lines",
      () => parseNdjsonBody("{}\n".repeat(INGEST_EVENTS_PER_REQUEST_MAX + 1)),
      "too_many_events",
      413,
      `request body holds more than ${INGEST_EVENTS_PER_REQUEST_MAX} events (line ${INGEST_EVENTS_PER_REQUEST_MAX + 1} is past the limit); split it into smaller requests`,
    ],
  ] as [string, () => unknown, string, number, string][])("%s", (_name, run, code, status, message) => {
    expect(thrown(run)).toEqual({ name: "IngestError", code, status, message });
  });

  test("a line of exactly the limit is accepted", () => {
    const message = "m".repeat(INGEST_LINE_BYTES_MAX - '{"message":""}'.length);
    const result = parseNdjsonBody(`{"message":"${message}"}\n`);
    expect({ count: result.events.length, rejectedCount: result.rejectedCount }).toEqual({ count: 1, rejectedCount: 0 });
  });

  test("an IngestError keeps the JSON syntax error as its cause", () => {
    let caught: unknown;
    try {
      parseJsonBody("{nope");
    } catch (error) {
      caught = error;
    }
    expect(caught instanceof IngestError && caught.cause instanceof SyntaxError).toEqual(true);
  });
});
