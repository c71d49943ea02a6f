// Goal: parseTimestamp turns every accepted timestamp spelling (RFC 3339 / ISO 8601
// strings, epoch numbers and numeric strings in s / ms / µs / ns) into exact UTC
// microseconds, and returns null for anything unrecognizable or outside 1970..2200.
// Method: tables of inputs with their expected microseconds, computed independently
// with Date.parse on a Z-suffixed ISO string plus the sub-millisecond remainder.

import { describe, expect, test } from "bun:test";
import {
  EPOCH_MICROSECONDS_BELOW,
  EPOCH_MILLISECONDS_BELOW,
  EPOCH_SECONDS_BELOW,
  parseTimestamp,
  TIMESTAMP_US_MAX,
} from "../src/ingest/timestamp.ts";

/** Microseconds for a Z-suffixed ISO string, plus `extraUs` below the millisecond. */
function isoUs(iso: string, extraUs = 0): number {
  return Date.parse(iso) * 1000 + extraUs;
}

const BASE = "2026-11-21T10:00:00Z";

describe("RFC 3339 / ISO 8601 strings", () => {
  test.each([
    ["Z", "2026-11-21T10:00:00Z", isoUs(BASE)],
    ["milliseconds", "2026-11-21T10:00:00.123Z", isoUs(BASE, 123_000)],
    ["microseconds", "2026-11-21T10:00:00.123456Z", isoUs(BASE, 123_456)],
    ["nanoseconds truncated to µs", "2026-11-21T10:00:00.123456789Z", isoUs(BASE, 123_456)],
    ["one fraction digit", "2026-11-21T10:00:00.5Z", isoUs(BASE, 500_000)],
    ["lower-case t and z", "2026-11-21t10:00:00.5z", isoUs(BASE, 500_000)],
    ["space instead of T", "2026-11-21 10:00:00.123Z", isoUs(BASE, 123_000)],
    ["comma before the fraction", "2026-11-21 10:00:00,250", isoUs(BASE, 250_000)],
    ["offset +02:00", "2026-11-21T12:00:00+02:00", isoUs(BASE)],
    ["offset -0530", "2026-11-21T04:30:00-0530", isoUs(BASE)],
    ["offset +02", "2026-11-21T12:00:00.000001+02", isoUs(BASE, 1)],
    ["offset crossing midnight", "2026-11-20T23:00:00-11:00", isoUs(BASE)],
    ["no zone is UTC", "2026-11-21T10:00:00", isoUs(BASE)],
    ["no seconds", "2026-11-21T10:00Z", isoUs(BASE)],
    ["date only is midnight UTC", "2026-11-21", isoUs("2026-11-21T00:00:00Z")],
    ["leap day", "2024-02-29T00:00:00Z", isoUs("2024-02-29T00:00:00Z")],
    ["leap second rolls into the next minute", "2016-12-31T23:59:60Z", isoUs("2017-01-01T00:00:00Z")],
    ["the epoch", "1970-01-01T00:00:00Z", 0],
    ["last microsecond before 2200", "2199-12-31T23:59:59.999999Z", TIMESTAMP_US_MAX - 1],
    ["surrounding whitespace", " 2026-11-21T10:00:00Z\n", isoUs(BASE)],
  ])("%s: %p", (_name, input, expected) => {
    expect(parseTimestamp(input)).toEqual(expected);
  });
});

describe("epoch numbers, unit by magnitude", () => {
  test.each([
    ["seconds", 1_795_255_200, isoUs(BASE)],
    ["fractional seconds round to the µs", 1_795_255_200.123456, isoUs(BASE, 123_456)],
    ["milliseconds", 1_795_255_200_123, isoUs(BASE, 123_000)],
    ["fractional milliseconds", 1_795_255_200_123.5, isoUs(BASE, 123_500)],
    ["microseconds", 1_795_255_200_123_456, isoUs(BASE, 123_456)],
    ["nanoseconds", 1_795_255_200_123_456_000, isoUs(BASE, 123_456)],
    ["zero", 0, 0],
    ["largest seconds value is year 5138, out of range", EPOCH_SECONDS_BELOW - 1, null],
    ["first milliseconds value (1973-03-03)", EPOCH_SECONDS_BELOW, 1e14],
    ["first microseconds value (1973-03-03)", EPOCH_MILLISECONDS_BELOW, 1e14],
    ["first nanoseconds value (1973-03-03)", EPOCH_MICROSECONDS_BELOW, 1e14],
    ["2200-01-01 in seconds is out of range", 7_258_118_400, null],
    ["last second before 2200", 7_258_118_399, TIMESTAMP_US_MAX - 1_000_000],
    ["negative", -1, null],
    ["NaN", Number.NaN, null],
    ["Infinity", Number.POSITIVE_INFINITY, null],
  ])("%s: %p", (_name, input, expected) => {
    expect(parseTimestamp(input)).toEqual(expected);
  });
});

describe("numeric strings, unit by digit count", () => {
  test.each([
    ["seconds", "1795255200", isoUs(BASE)],
    ["seconds with fraction", "1795255200.5", isoUs(BASE, 500_000)],
    ["seconds with nanosecond fraction", "1795255200.123456789", isoUs(BASE, 123_456)],
    ["milliseconds", "1795255200123", isoUs(BASE, 123_000)],
    ["milliseconds with fraction", "1795255200123.456", isoUs(BASE, 123_456)],
    ["microseconds", "1795255200123456", isoUs(BASE, 123_456)],
    ["nanoseconds keep full precision", "1795255200123456789", isoUs(BASE, 123_456)],
    ["leading zeros do not change the unit", "0001795255200", isoUs(BASE)],
    ["zero", "0", 0],
    ["twenty digits is past 2200 in any unit", "17952552001234567890", null],
    ["negative", "-5", null],
    ["two dots", "1.2.3", null],
    ["trailing dot", "1795255200.", null],
    ["trailing letters", "1795255200abc", null],
    ["exponent notation", "1.7e9", null],
  ])("%s: %p", (_name, input, expected) => {
    expect(parseTimestamp(input)).toEqual(expected);
  });
});

describe("unrecognizable or out of range", () => {
  test.each([
    ["empty string", ""],
    ["only spaces", "   "],
    ["words", "yesterday"],
    ["month 13", "2026-13-01T00:00:00Z"],
    ["February 30", "2026-02-30T00:00:00Z"],
    ["February 29 of a common year", "2025-02-29T00:00:00Z"],
    ["hour 24", "2026-11-21T24:00:00Z"],
    ["minute 60", "2026-11-21T10:60:00Z"],
    ["offset hour 25", "2026-11-21T10:00:00+25:00"],
    ["before 1970", "1969-12-31T23:59:59Z"],
    ["before 1970 once the offset applies", "1970-01-01T00:30:00+01:00"],
    ["2200 exactly", "2200-01-01T00:00:00Z"],
    ["text after the zone", "2026-11-21T10:00:00Zjunk"],
    ["dot without fraction digits", "2026-11-21T10:00:00.Z"],
    ["slashes", "2026/11/21 10:00:00"],
    ["RFC 2822", "Sat, 21 Nov 2026 10:00:00 GMT"],
    ["boolean", true],
    ["null", null],
    ["undefined", undefined],
    ["object", { seconds: 1 }],
    ["array", [1_795_255_200]],
  ])("%s", (_name, input) => {
    expect(parseTimestamp(input)).toEqual(null);
  });
});
