// Goal: normalizeRecord lifts the known fields (and their aliases) out of one JSON
// record, keeps every other field in metadata by the documented rules (precedence of
// spellings, `_top.` on collision, `_payload_` for untrusted tenant / id / ingest_ts),
// and rejects each kind of bad record with a message naming the field.
// Method: tables of records parsed from JSON text, each compared whole (toEqual) with
// the expected result, the metadata text included.

import { describe, expect, test } from "bun:test";
import { INGEST_LABEL_CHARS_MAX, INGEST_METADATA_DEPTH_MAX } from "../src/ingest/limits.ts";
import { normalizeRecord } from "../src/ingest/normalize.ts";
import type { NormalizedEvent } from "../src/protocol/event.ts";

const TIME_TEXT = "2026-11-21T10:00:00.123456Z";
const TIME_US = Date.parse("2026-11-21T10:00:00Z") * 1000 + 123_456;

/** The event for `{"message": "m"}`, with `changes` applied. */
function event(changes: Partial<NormalizedEvent> = {}): { ok: true; event: NormalizedEvent } {
  return {
    ok: true,
    event: {
      timestampUs: 0,
      level: "INFO",
      service: "",
      hostname: "",
      traceId: "",
      spanId: "",
      message: "m",
      metadata: "{}",
      ...changes,
    },
  };
}

/** `levels` objects nested inside each other, innermost holding 1. */
function nested(levels: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < levels; level++) value = { n: value };
  return value;
}

describe("accepted records", () => {
  test.each([
    ["only a message", { message: "m" }, event()],
    [
      "every known field",
      {
        timestamp: TIME_TEXT,
        level: "warning",
        service: "payment-service",
        hostname: "host-12",
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
        span_id: "00f067aa0ba902b7",
        message: "m",
        metadata: { user_id: 123 },
      },
      event({
        timestampUs: TIME_US,
        level: "WARN",
        service: "payment-service",
        hostname: "host-12",
        traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
        spanId: "00f067aa0ba902b7",
        metadata: '{"user_id":123}',
      }),
    ],
    ["alias ts", { ts: TIME_TEXT, message: "m" }, event({ timestampUs: TIME_US })],
    ["alias time", { time: 1_795_255_200, message: "m" }, event({ timestampUs: 1_795_255_200_000_000 })],
    ["alias @timestamp", { "@timestamp": TIME_TEXT, message: "m" }, event({ timestampUs: TIME_US })],
    ["alias severity", { severity: "crit", message: "m" }, event({ level: "FATAL" })],
    ["alias lvl", { lvl: "E", message: "m" }, event({ level: "ERROR" })],
    ["syslog numeric level", { level: 3, message: "m" }, event({ level: "ERROR" })],
    ["alias host", { host: "h1", message: "m" }, event({ hostname: "h1" })],
    ["alias msg", { msg: "m" }, event()],
    ["epoch milliseconds", { timestamp: 1_795_255_200_123, message: "m" }, event({ timestampUs: 1_795_255_200_123_000 })],
    [
      "null optional fields are absent",
      { timestamp: null, level: null, service: null, hostname: null, trace_id: null, span_id: null, metadata: null, message: "m" },
      event(),
    ],
    ["empty metadata", { message: "m", metadata: {} }, event()],
    ["unknown fields go to metadata", { message: "m", user: "ann", attempt: 2 }, event({ metadata: '{"user":"ann","attempt":2}' })],
    [
      "unknown fields join metadata's own keys",
      { message: "m", metadata: { a: 1 }, b: [true, null] },
      event({ metadata: '{"a":1,"b":[true,null]}' }),
    ],
    ["metadata wins a collision", { message: "m", metadata: { a: 1 }, a: 2 }, event({ metadata: '{"a":1,"_top.a":2}' })],
    [
      "a taken _top. key is prefixed again",
      { message: "m", metadata: { a: 1, "_top.a": 3 }, a: 2 },
      event({ metadata: '{"a":1,"_top.a":3,"_top._top.a":2}' }),
    ],
    [
      "canonical name wins over an alias, which is kept in metadata",
      { ts: 5, timestamp: TIME_TEXT, msg: "other", message: "m" },
      event({ timestampUs: TIME_US, metadata: '{"ts":5,"msg":"other"}' }),
    ],
    [
      "earlier alias wins over a later one",
      { "@timestamp": "x", time: TIME_TEXT, lvl: "?", severity: "debug", message: "m" },
      event({ timestampUs: TIME_US, level: "DEBUG", metadata: '{"@timestamp":"x","lvl":"?"}' }),
    ],
    [
      "an explicit null still holds its field's place",
      { timestamp: null, ts: "not a time", message: "m" },
      event({ metadata: '{"ts":"not a time"}' }),
    ],
    [
      "untrusted tenant, id and ingest_ts are kept under _payload_",
      { message: "m", tenant: "other-team", id: "forged", ingest_ts: 1 },
      event({ metadata: '{"_payload_tenant":"other-team","_payload_id":"forged","_payload_ingest_ts":1}' }),
    ],
    [
      "metadata's own tenant key is not the tenant",
      { message: "m", metadata: { tenant: "t" } },
      event({ metadata: '{"tenant":"t"}' }),
    ],
    [
      "labels at the length limit",
      { message: "m", service: "s".repeat(INGEST_LABEL_CHARS_MAX) },
      event({ service: "s".repeat(INGEST_LABEL_CHARS_MAX) }),
    ],
    [
      "metadata at the depth limit",
      { message: "m", metadata: nested(INGEST_METADATA_DEPTH_MAX) },
      event({ metadata: JSON.stringify(nested(INGEST_METADATA_DEPTH_MAX)) }),
    ],
    [
      "a top-level field at the depth limit once in metadata",
      { message: "m", deep: nested(INGEST_METADATA_DEPTH_MAX - 1) },
      event({ metadata: JSON.stringify({ deep: nested(INGEST_METADATA_DEPTH_MAX - 1) }) }),
    ],
  ])("%s", (_name, record, expected) => {
    // Through JSON text, as a body parser would hand it over.
    expect(normalizeRecord(JSON.parse(JSON.stringify(record)))).toEqual(expected);
  });

  test("a __proto__ key stays a plain metadata key", () => {
    const record = JSON.parse('{"message":"m","__proto__":{"polluted":true}}');
    expect(normalizeRecord(record)).toEqual(event({ metadata: '{"__proto__":{"polluted":true}}' }));
    expect(({} as Record<string, unknown>).polluted).toEqual(undefined);
  });
});

describe("rejected records", () => {
  const longValue = "y".repeat(100);
  test.each([
    ["array", [{ message: "m" }], "expected a JSON object, got array"],
    ["string", "m", "expected a JSON object, got string"],
    ["number", 1, "expected a JSON object, got number"],
    ["null", null, "expected a JSON object, got null"],
    ["missing message", { level: "info" }, 'missing field "message"'],
    ["message a number", { message: 42 }, 'field "message" must be a string, got number'],
    ["message null", { message: null }, 'field "message" must be a string, got null'],
    ["msg an object", { msg: { text: "m" } }, 'field "msg" must be a string, got object'],
    ["service a number", { message: "m", service: 7 }, 'field "service" must be a string, got number'],
    ["hostname an array", { message: "m", hostname: ["a"] }, 'field "hostname" must be a string, got array'],
    ["host a boolean", { message: "m", host: true }, 'field "host" must be a string, got boolean'],
    ["trace_id a number", { message: "m", trace_id: 1 }, 'field "trace_id" must be a string, got number'],
    ["span_id an object", { message: "m", span_id: {} }, 'field "span_id" must be a string, got object'],
    [
      "service too long",
      { message: "m", service: "s".repeat(INGEST_LABEL_CHARS_MAX + 1) },
      `field "service" is ${INGEST_LABEL_CHARS_MAX + 1} characters, over the limit of ${INGEST_LABEL_CHARS_MAX}`,
    ],
    [
      "trace_id too long",
      { message: "m", trace_id: "t".repeat(INGEST_LABEL_CHARS_MAX + 1) },
      `field "trace_id" is ${INGEST_LABEL_CHARS_MAX + 1} characters, over the limit of ${INGEST_LABEL_CHARS_MAX}`,
    ],
    ["unknown level name", { message: "m", level: "loud" }, 'field "level" has unknown level "loud"'],
    ["unknown level number", { message: "m", severity: 99 }, 'field "severity" has unknown level 99'],
    ["level a boolean", { message: "m", lvl: true }, 'field "lvl" must be a string or number, got boolean'],
    [
      "unparseable timestamp",
      { message: "m", timestamp: "yesterday" },
      'field "timestamp" has unparseable timestamp "yesterday" (expected RFC 3339 or epoch s/ms/µs/ns between 1970 and 2200)',
    ],
    [
      "timestamp before 1970",
      { message: "m", ts: -5 },
      'field "ts" has unparseable timestamp -5 (expected RFC 3339 or epoch s/ms/µs/ns between 1970 and 2200)',
    ],
    [
      "long unparseable timestamp is cut at 64 characters",
      { message: "m", time: longValue },
      `field "time" has unparseable timestamp "${"y".repeat(64)}"… (100 characters) (expected RFC 3339 or epoch s/ms/µs/ns between 1970 and 2200)`,
    ],
    ["timestamp an object", { message: "m", "@timestamp": {} }, 'field "@timestamp" must be a string or number, got object'],
    ["metadata an array", { message: "m", metadata: [1] }, 'field "metadata" must be an object, got array'],
    ["metadata a string", { message: "m", metadata: "{}" }, 'field "metadata" must be an object, got string'],
    [
      "metadata too deep",
      { message: "m", metadata: nested(INGEST_METADATA_DEPTH_MAX + 1) },
      `field "metadata" nests deeper than ${INGEST_METADATA_DEPTH_MAX} levels`,
    ],
    [
      "a top-level field too deep once in metadata",
      { message: "m", deep: nested(INGEST_METADATA_DEPTH_MAX) },
      `field "deep" nests deeper than ${INGEST_METADATA_DEPTH_MAX} levels once kept in metadata`,
    ],
  ])("%s", (_name, record, error) => {
    expect(normalizeRecord(JSON.parse(JSON.stringify(record)))).toEqual({ ok: false, error });
  });
});
