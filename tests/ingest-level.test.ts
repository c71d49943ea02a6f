// Goal: normalizeLevel maps every common level spelling (any letter case), syslog
// severities 0-7 and pino / bunyan numeric levels onto the six Sluice levels, and
// returns null for anything else.
// Method: one table row per spelling, tried in lower, upper, title and mixed case;
// numeric rows tried as numbers and as numeric strings; a table of rejects.

import { describe, expect, test } from "bun:test";
import { normalizeLevel } from "../src/ingest/level.ts";
import type { Level } from "../src/protocol/event.ts";

const SPELLINGS: [string, Level][] = [
  ["trace", "TRACE"],
  ["trc", "TRACE"],
  ["t", "TRACE"],
  ["verbose", "TRACE"],
  ["v", "TRACE"],
  ["debug", "DEBUG"],
  ["dbg", "DEBUG"],
  ["d", "DEBUG"],
  ["info", "INFO"],
  ["information", "INFO"],
  ["informational", "INFO"],
  ["notice", "INFO"],
  ["i", "INFO"],
  ["inf", "INFO"],
  ["warn", "WARN"],
  ["warning", "WARN"],
  ["w", "WARN"],
  ["wrn", "WARN"],
  ["error", "ERROR"],
  ["err", "ERROR"],
  ["e", "ERROR"],
  ["eror", "ERROR"],
  ["severe", "ERROR"],
  ["fatal", "FATAL"],
  ["crit", "FATAL"],
  ["critical", "FATAL"],
  ["alert", "FATAL"],
  ["emerg", "FATAL"],
  ["emergency", "FATAL"],
  ["panic", "FATAL"],
  ["f", "FATAL"],
];

function mixedCase(word: string): string {
  return [...word].map((letter, index) => (index % 2 === 1 ? letter.toUpperCase() : letter)).join("");
}

describe("names, case-insensitive", () => {
  test.each(SPELLINGS)("%s -> %s", (spelling, level) => {
    const forms = [spelling, spelling.toUpperCase(), spelling[0].toUpperCase() + spelling.slice(1), mixedCase(spelling)];
    expect(forms.map(normalizeLevel)).toEqual(forms.map(() => level));
  });

  test("surrounding whitespace is tolerated", () => {
    expect([" warn", "error\n", "\tInfo "].map(normalizeLevel)).toEqual(["WARN", "ERROR", "INFO"]);
  });
});

describe("numeric levels, as numbers and as strings", () => {
  test.each([
    [0, "FATAL"],
    [1, "FATAL"],
    [2, "FATAL"],
    [3, "ERROR"],
    [4, "WARN"],
    [5, "INFO"],
    [6, "INFO"],
    [7, "DEBUG"],
    // pino / bunyan
    [10, "TRACE"],
    [20, "DEBUG"],
    [30, "INFO"],
    [40, "WARN"],
    [50, "ERROR"],
    [60, "FATAL"],
  ] as [number, Level][])("%d -> %s", (value, level) => {
    expect([normalizeLevel(value), normalizeLevel(String(value))]).toEqual([level, level]);
  });
});

describe("not a level", () => {
  test.each([
    ["empty string", ""],
    ["unknown word", "loud"],
    ["prefix of a name", "warni"],
    ["name with a suffix", "info!"],
    ["severity 8", 8],
    ["negative", -1],
    ["fraction", 3.5],
    ["between pino levels", 35],
    ["numeric string 8", "8"],
    ["long string", "x".repeat(1000)],
    ["boolean", true],
    ["null", null],
    ["undefined", undefined],
    ["object", { level: "info" }],
    ["array", ["info"]],
  ])("%s", (_name, input) => {
    expect(normalizeLevel(input)).toEqual(null);
  });
});
