// Severity levels: the many spellings producers use, mapped onto Sluice's six LEVELS.
//
// One Map lookup per event on the hot path; the lower-, upper- and title-case form of
// every name are all keys, so the common spellings never pay for toLowerCase().

import type { Level } from "../protocol/event.ts";

/** Names accepted for each level, lower case. Single letters are the usual one-letter log prefixes. */
const LEVEL_NAMES: Readonly<Record<Level, readonly string[]>> = {
  TRACE: ["trace", "trc", "t", "verbose", "v"],
  DEBUG: ["debug", "dbg", "d"],
  INFO: ["info", "information", "informational", "notice", "i", "inf"],
  WARN: ["warn", "warning", "w", "wrn"],
  ERROR: ["error", "err", "e", "eror", "severe"],
  FATAL: ["fatal", "crit", "critical", "alert", "emerg", "emergency", "panic", "f"],
};

/**
 * Syslog severity (RFC 5424 section 6.2.1) to level, indexed by severity:
 * 0 emergency, 1 alert, 2 critical -> FATAL; 3 error; 4 warning; 5 notice, 6 informational -> INFO; 7 debug.
 */
const SYSLOG_SEVERITY_LEVELS: readonly Level[] = ["FATAL", "FATAL", "FATAL", "ERROR", "WARN", "INFO", "INFO", "DEBUG"];

/**
 * Numeric levels of pino and bunyan, the two common Node.js JSON loggers (10 trace ...
 * 60 fatal). They do not overlap the syslog range 0-7, so both can be accepted.
 */
const NODE_LOGGER_LEVELS: ReadonlyMap<number, Level> = new Map<number, Level>([
  [10, "TRACE"],
  [20, "DEBUG"],
  [30, "INFO"],
  [40, "WARN"],
  [50, "ERROR"],
  [60, "FATAL"],
]);

/** Longest level name worth lower-casing on a miss; anything longer cannot be one. */
const LEVEL_NAME_CHARS_MAX = 16;

const LEVEL_BY_NAME: ReadonlyMap<string, Level> = buildLevelTable();

function buildLevelTable(): Map<string, Level> {
  const table = new Map<string, Level>();
  for (const [level, names] of Object.entries(LEVEL_NAMES) as [Level, readonly string[]][]) {
    for (const name of names) {
      table.set(name, level);
      table.set(name.toUpperCase(), level);
      table.set(name[0].toUpperCase() + name.slice(1), level);
    }
  }
  SYSLOG_SEVERITY_LEVELS.forEach((level, severity) => table.set(String(severity), level));
  for (const [value, level] of NODE_LOGGER_LEVELS) table.set(String(value), level);
  return table;
}

/**
 * Maps a level as sent (a name in any letter case, a syslog severity 0-7 or a pino /
 * bunyan level 10-60, as a number or a numeric string) to a Level, or null when it is
 * none of those.
 */
export function normalizeLevel(value: unknown): Level | null {
  if (typeof value === "string") {
    const exact = LEVEL_BY_NAME.get(value);
    if (exact !== undefined) return exact;
    if (value.length > LEVEL_NAME_CHARS_MAX + 2) return null;
    return LEVEL_BY_NAME.get(value.trim().toLowerCase()) ?? null;
  }
  if (typeof value === "number") {
    if (value >= 0 && value <= 7 && Number.isInteger(value)) return SYSLOG_SEVERITY_LEVELS[value];
    return NODE_LOGGER_LEVELS.get(value) ?? null;
  }
  return null;
}

/**
 * Level for a word lifted out of a plain-text line: like normalizeLevel, but only names
 * of three letters or more, because in free text a lone `I`, `e` or `3` is rarely a level.
 */
export function levelFromWord(word: string): Level | null {
  if (word.length < 3 || word.length > LEVEL_NAME_CHARS_MAX) return null;
  const first = word.charCodeAt(0) | 0x20;
  if (first < 97 || first > 122) return null;
  return LEVEL_BY_NAME.get(word) ?? LEVEL_BY_NAME.get(word.toLowerCase()) ?? null;
}

/** Level for a syslog severity 0-7 (the low three bits of a PRI value). */
export function levelFromSyslogSeverity(severity: number): Level {
  return SYSLOG_SEVERITY_LEVELS[severity & 7];
}
