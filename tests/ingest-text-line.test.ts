// Goal: parseTextLine lifts the timestamp (and the level, where the format has one) out
// of every line of the 16 Loghub samples and of the generic shapes (ISO 8601, RFC 5424
// and RFC 3164 syslog, epoch at the start), infers the year of year-less formats from
// `nowUs`, and otherwise keeps the line as the message with timestamp 0 and the
// default level.
// Method: for each Loghub file, every one of its 2000 lines must get a nonzero
// timestamp; the first line's exact timestamp and level, and for files with a level
// column the count of each level (cross-checked against that column with awk), are
// asserted in tables. Generic shapes and year inference are tables of single lines.

import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseTextLine, type TextLineDefaults } from "../src/ingest/text-line.ts";
import type { Level } from "../src/protocol/event.ts";

const LOGHUB = join(import.meta.dir, "fixtures", "loghub");
const DEFAULTS: TextLineDefaults = {
  service: "loghub",
  hostname: "fixture",
  nowUs: Date.parse("2026-11-21T12:00:00Z") * 1000,
};

/** Microseconds for an ISO string with a zone, plus `extraUs` below the millisecond. */
function isoUs(iso: string, extraUs = 0): number {
  return Date.parse(iso) * 1000 + extraUs;
}

function loghubLines(file: string): string[] {
  const lines = readFileSync(join(LOGHUB, file), "utf8").split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

const FIRST_LINES: [string, number, Level][] = [
  ["Android_2k.log", isoUs("2026-03-17T16:13:38.811Z"), "DEBUG"], // no year: nowUs's
  ["Apache_2k.log", isoUs("2005-12-04T04:47:44Z"), "INFO"], // [notice]
  ["BGL_2k.log", isoUs("2005-06-03T22:42:50Z", 675_872), "INFO"], // epoch field + µs of the local time field
  ["HDFS_2k.log", isoUs("2008-11-09T20:36:15Z"), "INFO"],
  ["HPC_2k.log", isoUs("2004-02-26T14:12:22Z"), "INFO"], // epoch in the fifth field; no level column
  ["Hadoop_2k.log", isoUs("2015-10-18T18:01:47.978Z"), "INFO"],
  ["HealthApp_2k.log", isoUs("2017-12-23T22:15:29.606Z"), "INFO"],
  ["Linux_2k.log", isoUs("2026-06-14T15:16:01Z"), "INFO"],
  ["Mac_2k.log", isoUs("2026-07-01T09:00:55Z"), "INFO"],
  ["OpenSSH_2k.log", isoUs("2025-12-10T06:55:46Z"), "INFO"], // Dec 10 this year is in the future: last year
  ["OpenStack_2k.log", isoUs("2017-05-16T00:00:00.008Z"), "INFO"],
  ["Proxifier_2k.log", isoUs("2026-10-30T16:49:06Z"), "INFO"],
  ["Spark_2k.log", isoUs("2017-06-09T20:10:40Z"), "INFO"],
  ["Thunderbird_2k.log", isoUs("2005-11-09T20:01:01Z"), "INFO"], // epoch field
  ["Windows_2k.log", isoUs("2016-09-28T04:30:30Z"), "INFO"], // ", Info"
  ["Zookeeper_2k.log", isoUs("2015-07-29T17:41:44.747Z"), "INFO"],
];

/** Level counts per file with a level column, as `awk` counts that column. */
const LEVEL_COUNTS: [string, Partial<Record<Level, number>>][] = [
  ["Android_2k.log", { TRACE: 257, DEBUG: 650, INFO: 920, WARN: 170, ERROR: 3 }], // V D I W E
  ["Apache_2k.log", { INFO: 1405, ERROR: 595 }], // [notice] [error]
  ["BGL_2k.log", { INFO: 1597, WARN: 8, ERROR: 48, FATAL: 347 }], // WARNING; ERROR 41 + SEVERE 7
  ["HDFS_2k.log", { INFO: 1920, WARN: 80 }],
  ["Hadoop_2k.log", { INFO: 1040, WARN: 808, ERROR: 150, FATAL: 2 }],
  ["OpenStack_2k.log", { INFO: 1969, WARN: 31 }], // WARNING
  ["Spark_2k.log", { INFO: 2000 }],
  ["Windows_2k.log", { INFO: 2000 }], // Info
  ["Zookeeper_2k.log", { INFO: 669, WARN: 1318, ERROR: 13 }],
];

describe("Loghub samples", () => {
  test("all 16 systems are covered", () => {
    const files = readdirSync(LOGHUB).filter((name) => name.endsWith(".log")).sort();
    expect(files).toEqual(FIRST_LINES.map(([file]) => file));
  });

  test.each(FIRST_LINES.map(([file]) => file))("%s: every line gets a timestamp", (file) => {
    const lines = loghubLines(file);
    const undated = lines.filter((line) => parseTextLine(line, DEFAULTS).timestampUs === 0);
    expect({ lines: lines.length, undated }).toEqual({ lines: 2000, undated: [] });
  });

  test.each(FIRST_LINES)("%s: first line", (file, timestampUs, level) => {
    const line = loghubLines(file)[0];
    expect(parseTextLine(line, DEFAULTS)).toEqual({
      timestampUs,
      level,
      service: "loghub",
      hostname: "fixture",
      traceId: "",
      spanId: "",
      message: line,
      metadata: "{}",
    });
  });

  test.each(LEVEL_COUNTS)("%s: levels from the level column", (file, counts) => {
    const found: Partial<Record<Level, number>> = {};
    for (const line of loghubLines(file)) {
      const level = parseTextLine(line, DEFAULTS).level;
      found[level] = (found[level] ?? 0) + 1;
    }
    expect(found).toEqual(counts);
  });
});

describe("generic shapes", () => {
  test.each([
    ["ISO with Z", "2026-11-21T10:00:00.123456Z api started", isoUs("2026-11-21T10:00:00Z", 123_456), "INFO"],
    ["ISO with offset and level", "2026-11-21T10:00:00+02:00 ERROR boom", isoUs("2026-11-21T08:00:00Z"), "ERROR"],
    ["ISO, comma fraction, bracketed level", "2026-11-21 10:00:00,5 [WARN] slow", isoUs("2026-11-21T10:00:00.500Z"), "WARN"],
    ["ISO after pid", "2026-11-21 10:00:00 4242 debug x", isoUs("2026-11-21T10:00:00Z"), "DEBUG"],
    ["nginx error log", "2026/11/21 10:00:00 [error] 77#0: *1 open() failed", isoUs("2026-11-21T10:00:00Z"), "ERROR"],
    ["bracketed ISO, Monolog channel.LEVEL", "[2026-11-21 10:00:00] worker.WARNING: low disk", isoUs("2026-11-21T10:00:00Z"), "WARN"],
    [
      "RFC 5424, PRI severity 2",
      "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - 'su root' failed",
      isoUs("2003-10-11T22:14:15.003Z"),
      "FATAL",
    ],
    [
      "RFC 5424 with offset, PRI severity 5",
      "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time",
      isoUs("2003-08-24T12:14:15Z", 3),
      "INFO",
    ],
    ["RFC 5424 without a timestamp", "<11>1 - host app - - - disk gone", 0, "ERROR"],
    [
      "RFC 3164, PRI severity 2",
      "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick",
      isoUs("2026-10-11T22:14:15Z"),
      "FATAL",
    ],
    ["PRI then bare ISO", "<12>2026-11-21T10:00:00Z host app: low memory", isoUs("2026-11-21T10:00:00Z"), "WARN"],
    ["BSD syslog without PRI", "Nov  2 08:00:01 web1 cron[12]: ERROR job failed", isoUs("2026-11-02T08:00:01Z"), "ERROR"],
    ["epoch seconds", "1795255200 worker-3 job done", isoUs("2026-11-21T10:00:00Z"), "INFO"],
    ["epoch seconds with fraction", "1795255200.25 job done", isoUs("2026-11-21T10:00:00.250Z"), "INFO"],
    ["epoch milliseconds", "1795255200123 worker-3 WARN retrying", isoUs("2026-11-21T10:00:00.123Z"), "WARN"],
    ["ctime", "Sat Nov 21 10:00:00 2026 kernel: started", isoUs("2026-11-21T10:00:00Z"), "INFO"],
    ["logfmt", 'time=2026-11-21T10:00:00Z level=error msg="db down"', isoUs("2026-11-21T10:00:00Z"), "ERROR"],
    ["source name, then ISO", "app.log.1 2026-11-21 10:00:00.008 99 WARNING x", isoUs("2026-11-21T10:00:00.008Z"), "WARN"],
    ["no timestamp, no level", "just some text", 0, "INFO"],
    ["no timestamp, upper-case level word", "something ERROR happened", 0, "ERROR"],
    ["lower-case words are not levels", "no error and no warning here", 0, "INFO"],
    ["a level word past the first 80 characters", `${"x ".repeat(45)}ERROR`, 0, "INFO"],
    ["dmesg uptime is not a time", "[    5.123456] usb 1-1: new device", 0, "INFO"],
    ["out of range", "2300-01-01T00:00:00Z far future", 0, "INFO"],
    ["digits glued to a word", "2026-11-21T10:00:00Zulu time", 0, "INFO"],
    ["empty line", "", 0, "INFO"],
  ] as [string, string, number, Level][])("%s", (_name, line, timestampUs, level) => {
    const event = parseTextLine(line, DEFAULTS);
    expect({ timestampUs: event.timestampUs, level: event.level, message: event.message }).toEqual({
      timestampUs,
      level,
      message: line,
    });
  });
});

describe("year inference for year-less formats", () => {
  test.each([
    ["this year when in the past", "2026-01-01T00:30:00Z", "Jan  1 00:00:00 h x", "2026-01-01T00:00:00Z"],
    ["this year when less than a day ahead", "2026-01-01T00:30:00Z", "Jan  1 12:00:00 h x", "2026-01-01T12:00:00Z"],
    ["last year when more than a day ahead", "2026-01-01T00:30:00Z", "Jan  2 12:00:00 h x", "2025-01-02T12:00:00Z"],
    ["December read in January", "2026-01-01T00:30:00Z", "Dec 31 23:59:59 h x", "2025-12-31T23:59:59Z"],
    ["February 29 steps back to a leap year", "2026-03-01T00:00:00Z", "Feb 29 10:00:00 h x", "2024-02-29T10:00:00Z"],
    ["Android", "2026-01-01T00:30:00Z", "12-31 23:59:59.999  1  2 I Tag: x", "2025-12-31T23:59:59.999Z"],
    ["Proxifier", "2026-06-01T00:00:00Z", "[07.04 09:00:00] app.exe - close", "2025-07-04T09:00:00Z"],
  ])("%s", (_name, now, line, expected) => {
    const defaults = { ...DEFAULTS, nowUs: isoUs(now) };
    expect(parseTextLine(line, defaults).timestampUs).toEqual(isoUs(expected));
  });
});
