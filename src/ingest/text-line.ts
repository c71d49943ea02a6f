// Plain-text log lines (syslog, application logs, Loghub-style files) to events: the
// message is the whole line, unchanged; the timestamp and level are lifted out where
// the line's shape is recognized.
//
// Recognized timestamp shapes, dispatched on the first character so that most lines
// cost a few charCodeAt calls and no regular expression:
//
//   digit  2026-11-21T10:00:00.123Z, 2015-10-18 18:01:47,978, 2026/11/21 10:00:00
//                                              ISO 8601 (Hadoop, Zookeeper, Windows, nginx)
//          20171223-22:15:29:606               yyyyMMdd-H:m:s:SSS, unpadded (HealthApp)
//          03-17 16:13:38.811  pid  tid D      MM-dd, Android threadtime; level letter V/D/I/W/E/F/A
//          17/06/09 20:10:40                   yy/MM/dd, log4j's default (Spark)
//          081109 203615                       yyMMdd HHmmss (HDFS)
//          1117838570[.123] ...                epoch s/ms/µs/ns, at least ten digits
//          134681 node-246 a.b c 1077804742 1  epoch in the fifth field (HPC)
//   <      <34>1 2003-10-11T22:14:15.003Z ...  RFC 5424; <34>Oct 11 22:14:15 ... RFC 3164;
//                                              the PRI's severity gives the level
//   [      [Sun Dec 04 04:47:44 2005]          ctime (Apache); [10.30 16:49:06] MM.dd (Proxifier);
//          [2026-11-21 10:00:00]               bracketed ISO
//   other  Jun 14 15:16:01, Jul  1 09:00:55    BSD syslog (Linux, Mac, OpenSSH)
//          Sun Dec 04 04:47:44 2005            ctime
//          - 1117838570 2005.06.03 node ...    cluster records: epoch in the second field (BGL,
//                                              Thunderbird); BGL's level column is read too
//   any    an ISO date-time starting within the first TIMESTAMP_SEARCH_CHARS characters after
//          a space, `[`, `(`, `"` or `=` (OpenStack's `nova-api.log... 2017-05-16 00:00:00.008`)
//
// Times without a zone are UTC. Shapes without a year take the year of `nowUs`, or an
// earlier one when that would put the event more than YEARLESS_FUTURE_SLACK_US after
// `nowUs` (a December line read in January belongs to last year); February 29 steps
// back to the last leap year. Two-digit years follow POSIX strptime: 69-99 are 19xx,
// 00-68 20xx.
//
// Levels: a level word right after the timestamp (skipping up to two numbers such as a
// pid and separators like `-`, `,`, `|`, `]`; `[error]`, `INFO`, `Info`, `WARNING`);
// the shape's own column where it has one (Android letter, syslog PRI, BGL); otherwise
// an upper-case level word (TRACE, DEBUG, INFO, NOTICE, WARN, WARNING, ERROR, ERR,
// SEVERE, FATAL, CRIT, CRITICAL, EMERG, EMERGENCY) or `level=`/`lvl=`/`severity=`
// within the first LEVEL_SEARCH_CHARS characters; otherwise DEFAULT_LEVEL. Lower-case
// words in free text ("no error") are deliberately not read as levels, nor are ALERT
// and PANIC, which appear in messages as ordinary words (logrotate's "ALERT exited
// abnormally").

import { DEFAULT_LEVEL, type Level, type NormalizedEvent } from "../protocol/event.ts";
import { levelFromSyslogSeverity, levelFromWord } from "./level.ts";
import {
  digits2,
  digits4,
  isDigitAt,
  parseEpochDigits,
  scanDateTime,
  scanFraction,
  scannedFractionMicros,
  utcMicros,
  utcYearOf,
  type TimestampScan,
} from "./timestamp.ts";

/** What a text line does not carry itself: its source, and the clock that dates year-less lines. */
export interface TextLineDefaults {
  service: string;
  hostname: string;
  /** Current time, microseconds since the epoch; chooses the year for shapes without one. */
  nowUs: number;
}

/** How far a year-less timestamp may lie ahead of `nowUs` before it is taken as last year's, µs (one day, for clock skew and zones). */
const YEARLESS_FUTURE_SLACK_US = 86_400_000_000;
/** Characters searched for a level word when the line's shape gives none. */
const LEVEL_SEARCH_CHARS = 80;
/** Characters searched for an ISO date-time when the line does not start with a known shape. */
const TIMESTAMP_SEARCH_CHARS = 96;

const CHAR_TAB = 9;
const CHAR_SPACE = 32;
const CHAR_OPEN_PAREN = 40;
const CHAR_CLOSE_PAREN = 41;
const CHAR_COMMA = 44;
const CHAR_MINUS = 45;
const CHAR_DOT = 46;
const CHAR_SLASH = 47;
const CHAR_0 = 48;
const CHAR_COLON = 58;
const CHAR_LESS = 60;
const CHAR_GREATER = 62;
const CHAR_OPEN_BRACKET = 91;
const CHAR_CLOSE_BRACKET = 93;
const CHAR_PIPE = 124;
const MICROS_PER_SECOND = 1_000_000;

/** Epoch in the fifth field: `LineId Node Component State Time Flag ...` (HPC). */
const FIFTH_FIELD_EPOCH = /^\d+ [^ ]+ [^ ]+ [^ ]+ (\d{9,10})(?: |$)/;
/**
 * `Label Epoch yyyy.MM.dd Node ...` (BGL, Thunderbird). BGL goes on with
 * `yyyy-MM-dd-HH.mm.ss.ffffff Node Type Component LEVEL`; its microseconds refine the
 * epoch when both agree on the second, and LEVEL is the event's level.
 */
const CLUSTER_RECORD =
  /^[^ ]+ (\d{9,10}) \d{4}\.\d\d\.\d\d [^ ]+ (?:\d{4}-\d\d-\d\d-\d\d\.\d\d\.(\d\d)\.(\d{6}) [^ ]+ [^ ]+ [^ ]+ ([A-Z]+) )?/;
/** An ISO date-time not at the start of the line, after a delimiter. */
const ISO_SOMEWHERE = /(?:^|[\s\[("=])(\d{4}[-/]\d\d[-/]\d\d[T ]\d\d:\d\d)/;
/** Fallback level: an upper-case level word, or a logfmt-style level key. */
const LEVEL_SOMEWHERE =
  /\b(?:(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRIT|CRITICAL|EMERG|EMERGENCY)\b|(?:level|lvl|severity)=["']?([A-Za-z]+))/;

/** Three-letter month and weekday names, keyed by their lower-cased char codes. */
const MONTH_BY_CODE: ReadonlyMap<number, number> = new Map(
  ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"].map((name, index) => [
    nameCode(name, 0),
    index + 1,
  ]),
);
const WEEKDAY_CODES: ReadonlySet<number> = new Set(
  ["mon", "tue", "wed", "thu", "fri", "sat", "sun"].map((name) => nameCode(name, 0)),
);

// What the recognizers below found; module state so the hot path allocates nothing.
let liftedUs = 0;
let liftedLevel: Level | null = null;
let readEnd = 0;
let clockMicros = 0;
const scan: TimestampScan = { us: 0, end: 0 };
// utcYearOf is cheap but not free; a body's lines share one `nowUs`.
let cachedNowUs = Number.NaN;
let cachedNowYear = 0;

/** Turns one line of text (without its line terminator) into an event; never fails. */
export function parseTextLine(line: string, defaults: TextLineDefaults): NormalizedEvent {
  liftedUs = 0;
  liftedLevel = null;
  liftTimestamp(line, defaults.nowUs);
  const level = liftedLevel ?? levelSomewhere(line) ?? DEFAULT_LEVEL;
  return {
    timestampUs: liftedUs,
    level,
    service: defaults.service,
    hostname: defaults.hostname,
    traceId: "",
    spanId: "",
    message: line,
    metadata: "{}",
  };
}

function liftTimestamp(line: string, nowUs: number): void {
  const first = line.charCodeAt(0);
  let lifted: boolean;
  if (first >= CHAR_0 && first <= CHAR_0 + 9) lifted = liftDigitStart(line, nowUs);
  else if (first === CHAR_LESS) lifted = liftSyslogPri(line, nowUs);
  else if (first === CHAR_OPEN_BRACKET) lifted = liftBracketed(line, nowUs);
  else lifted = liftWordStart(line, nowUs);
  if (!lifted) liftIsoSomewhere(line);
}

/** Records a found timestamp (and the level, when the shape gave one). */
function found(us: number | null, level: Level | null): boolean {
  if (us === null || us === 0) return false;
  liftedUs = us;
  if (level !== null) liftedLevel = level;
  return true;
}

function liftDigitStart(line: string, nowUs: number): boolean {
  // Each shape is tried only when the character that tells it apart is in place; a
  // shape that fails falls through to the next, because a line can resemble several.
  const at2 = line.charCodeAt(2);
  const at4 = line.charCodeAt(4);
  if ((at4 === CHAR_MINUS || at4 === CHAR_SLASH) && liftIsoAt(line, 0)) return true;
  if (line.charCodeAt(8) === CHAR_MINUS && liftCompactDateClock(line)) return true;
  if (at2 === CHAR_MINUS && line.charCodeAt(5) === CHAR_SPACE && liftAndroid(line, nowUs)) return true;
  if (at2 === CHAR_SLASH && liftShortYearSlash(line)) return true;
  if (line.charCodeAt(6) === CHAR_SPACE && liftShortYearCompact(line)) return true;
  return liftLeadingEpoch(line) || liftFifthFieldEpoch(line);
}

/** ISO date-time at `position`, then a level word after it. */
function liftIsoAt(line: string, position: number): boolean {
  if (!scanDateTime(line, position, scan, true)) return false;
  return found(scan.us, levelAfter(line, scan.end));
}

/** `20171223-22:15:29:606|...`: yyyyMMdd, then H:m:s:SSS with unpadded fields (HealthApp). */
function liftCompactDateClock(line: string): boolean {
  const year = digits4(line, 0);
  const month = digits2(line, 4);
  const day = digits2(line, 6);
  if (year < 0 || month < 0 || day < 0) return false;
  const hour = readNumber(line, 9, 2);
  if (hour < 0 || line.charCodeAt(readEnd) !== CHAR_COLON) return false;
  const minute = readNumber(line, readEnd + 1, 2);
  if (minute < 0 || line.charCodeAt(readEnd) !== CHAR_COLON) return false;
  const second = readNumber(line, readEnd + 1, 2);
  if (second < 0) return false;
  let millis = 0;
  const mark = line.charCodeAt(readEnd);
  if (mark === CHAR_COLON || mark === CHAR_DOT) {
    millis = readNumber(line, readEnd + 1, 3);
    if (millis < 0) return false;
  }
  if (isWordCharAt(line, readEnd)) return false;
  return found(utcMicros(year, month, day, hour, minute, second, millis * 1000), null);
}

/** `03-17 16:13:38.811  1702  2395 D Tag: ...` (Android logcat threadtime; no year). */
function liftAndroid(line: string, nowUs: number): boolean {
  const month = digits2(line, 0);
  const day = digits2(line, 3);
  if (month < 0 || day < 0 || !readClock(line, 6)) return false;
  let position = readEnd;
  if (isWordCharAt(line, position)) return false;
  let level: Level | null = null;
  // pid and tid, then the one-letter priority.
  for (let field = 0; field < 2; field++) {
    position = skipSpaces(line, position);
    const start = position;
    while (isDigitAt(line, position)) position++;
    if (position === start) break;
  }
  position = skipSpaces(line, position);
  if (line.charCodeAt(position + 1) === CHAR_SPACE) level = androidPriority(line.charCodeAt(position));
  return found(yearlessMicros(month, day, clockMicros, nowUs), level);
}

function androidPriority(letter: number): Level | null {
  switch (letter) {
    case 86: return "TRACE"; // V
    case 68: return "DEBUG"; // D
    case 73: return "INFO"; // I
    case 87: return "WARN"; // W
    case 69: return "ERROR"; // E
    case 70: // F
    case 65: return "FATAL"; // A (assert)
    default: return null;
  }
}

/** `17/06/09 20:10:40 INFO ...`: yy/MM/dd, log4j's default pattern (Spark). */
function liftShortYearSlash(line: string): boolean {
  const year = digits2(line, 0);
  const month = digits2(line, 3);
  const day = digits2(line, 6);
  if (year < 0 || month < 0 || day < 0 || line.charCodeAt(5) !== CHAR_SLASH) return false;
  if (line.charCodeAt(8) !== CHAR_SPACE || !readClock(line, 9) || isWordCharAt(line, readEnd)) return false;
  const midnight = utcMicros(fullYear(year), month, day, 0, 0, 0, 0);
  return found(midnight === null ? null : midnight + clockMicros, levelAfter(line, readEnd));
}

/** `081109 203615 148 INFO ...`: yyMMdd HHmmss (HDFS). */
function liftShortYearCompact(line: string): boolean {
  const year = digits2(line, 0);
  const month = digits2(line, 2);
  const day = digits2(line, 4);
  const hour = digits2(line, 7);
  const minute = digits2(line, 9);
  const second = digits2(line, 11);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return false;
  if (isWordCharAt(line, 13)) return false;
  return found(utcMicros(fullYear(year), month, day, hour, minute, second, 0), levelAfter(line, 13));
}

/** A line that starts with an epoch number of at least ten digits. */
function liftLeadingEpoch(line: string): boolean {
  let position = 0;
  while (isDigitAt(line, position)) position++;
  if (position < 10) return false;
  if (line.charCodeAt(position) === CHAR_DOT) {
    position++;
    while (isDigitAt(line, position)) position++;
  }
  if (isWordCharAt(line, position)) return false;
  return found(parseEpochDigits(line, 0, position), levelAfter(line, position));
}

function liftFifthFieldEpoch(line: string): boolean {
  const match = FIFTH_FIELD_EPOCH.exec(line);
  if (match === null) return false;
  return found(parseEpochDigits(match[1], 0, match[1].length), null);
}

/** `<PRI>` then RFC 5424 (`1 2003-10-11T22:14:15.003Z`), RFC 3164 (`Oct 11 22:14:15`) or bare ISO. */
function liftSyslogPri(line: string, nowUs: number): boolean {
  const priority = readNumber(line, 1, 3);
  if (priority < 0 || priority > 191 || line.charCodeAt(readEnd) !== CHAR_GREATER) return false;
  liftedLevel = levelFromSyslogSeverity(priority);
  let position = readEnd + 1;
  if (isDigitAt(line, position) && line.charCodeAt(position + 1) === CHAR_SPACE) position += 2; // RFC 5424 VERSION
  if (isDigitAt(line, position)) {
    return scanDateTime(line, position, scan, true) && found(scan.us, null);
  }
  const month = monthAt(line, position);
  return month > 0 && liftSyslogDate(line, position, month, nowUs);
}

/** `Jun 14 15:16:01` / `Jul  1 09:00:55` at `position`, month already read (BSD syslog; no year). */
function liftSyslogDate(line: string, position: number, month: number, nowUs: number): boolean {
  position += 3;
  if (line.charCodeAt(position) !== CHAR_SPACE) return false;
  position++;
  if (line.charCodeAt(position) === CHAR_SPACE) position++;
  const day = readNumber(line, position, 2);
  if (day < 0 || line.charCodeAt(readEnd) !== CHAR_SPACE || !readClock(line, readEnd + 1)) return false;
  if (isWordCharAt(line, readEnd)) return false;
  return found(yearlessMicros(month, day, clockMicros, nowUs), null);
}

function liftBracketed(line: string, nowUs: number): boolean {
  if (isLetterAt(line, 1)) return liftCtime(line, 1, nowUs);
  if (!isDigitAt(line, 1)) return false;
  const at5 = line.charCodeAt(5);
  if (at5 === CHAR_MINUS || at5 === CHAR_SLASH) return liftIsoAt(line, 1);
  if (line.charCodeAt(3) !== CHAR_DOT) return false;
  // `[10.30 16:49:06] ...`: MM.dd HH:mm:ss, no year (Proxifier).
  const month = digits2(line, 1);
  const day = digits2(line, 4);
  if (month < 0 || day < 0 || line.charCodeAt(6) !== CHAR_SPACE || !readClock(line, 7)) return false;
  if (line.charCodeAt(readEnd) !== CHAR_CLOSE_BRACKET) return false;
  return found(yearlessMicros(month, day, clockMicros, nowUs), levelAfter(line, readEnd + 1));
}

/** `[Sun ]Dec 04 04:47:44[ 2005]` at `position` (ctime / asctime; Apache error log in brackets). */
function liftCtime(line: string, position: number, nowUs: number): boolean {
  if (WEEKDAY_CODES.has(nameCode(line, position)) && line.charCodeAt(position + 3) === CHAR_SPACE) position += 4;
  const month = monthAt(line, position);
  if (month === 0 || line.charCodeAt(position + 3) !== CHAR_SPACE) return false;
  position += 4;
  if (line.charCodeAt(position) === CHAR_SPACE) position++;
  const day = readNumber(line, position, 2);
  if (day < 0 || line.charCodeAt(readEnd) !== CHAR_SPACE || !readClock(line, readEnd + 1)) return false;
  let end = readEnd;
  const time = clockMicros;
  let us: number | null;
  const year = line.charCodeAt(end) === CHAR_SPACE ? digits4(line, end + 1) : -1;
  if (year >= 0 && !isDigitAt(line, end + 5)) {
    const midnight = utcMicros(year, month, day, 0, 0, 0, 0);
    us = midnight === null ? null : midnight + time;
    end += 5;
  } else {
    us = yearlessMicros(month, day, time, nowUs);
  }
  if (line.charCodeAt(end) === CHAR_CLOSE_BRACKET) end++;
  else if (isWordCharAt(line, end)) return false;
  return found(us, levelAfter(line, end));
}

function liftWordStart(line: string, nowUs: number): boolean {
  const month = monthAt(line, 0);
  if (month > 0 && line.charCodeAt(3) === CHAR_SPACE) return liftSyslogDate(line, 0, month, nowUs);
  if (WEEKDAY_CODES.has(nameCode(line, 0)) && line.charCodeAt(3) === CHAR_SPACE) return liftCtime(line, 0, nowUs);
  return liftClusterRecord(line);
}

/** `- 1117838570 2005.06.03 node ...` (BGL, Thunderbird): see CLUSTER_RECORD. */
function liftClusterRecord(line: string): boolean {
  const match = CLUSTER_RECORD.exec(line);
  if (match === null) return false;
  const epochSeconds = match[1];
  let us = parseEpochDigits(epochSeconds, 0, epochSeconds.length);
  const second = match[2];
  if (us !== null && second !== undefined && Number(second) === (us / MICROS_PER_SECOND) % 60) {
    us += Number(match[3]);
  }
  return found(us, match[4] === undefined ? null : levelFromWord(match[4]));
}

function liftIsoSomewhere(line: string): void {
  const head = line.length > TIMESTAMP_SEARCH_CHARS ? line.slice(0, TIMESTAMP_SEARCH_CHARS) : line;
  const match = ISO_SOMEWHERE.exec(head);
  if (match === null) return;
  liftIsoAt(line, match.index + match[0].length - match[1].length);
}

/**
 * A level word after a timestamp ending at `position`: skips separators and up to two
 * numbers (pid, thread id), then reads one token, unwrapped from `[]`, `()` or `<>` and
 * a trailing `:`.
 */
function levelAfter(line: string, position: number): Level | null {
  let numbers = 0;
  for (;;) {
    while (isSeparator(line.charCodeAt(position))) position++;
    const start = position;
    let allDigits = true;
    for (; ; position++) {
      const code = line.charCodeAt(position);
      if (code === CHAR_SPACE || code === CHAR_TAB || Number.isNaN(code)) break;
      if (position - start > 18) return null;
      if (code < CHAR_0 || code > CHAR_0 + 9) allDigits = false;
    }
    if (position === start) return null;
    if (!allDigits) return levelFromWord(unwrapToken(line, start, position));
    if (++numbers > 2) return null;
  }
}

function unwrapToken(line: string, start: number, end: number): string {
  const first = line.charCodeAt(start);
  if (first === CHAR_OPEN_BRACKET || first === CHAR_OPEN_PAREN || first === CHAR_LESS) start++;
  if (line.charCodeAt(end - 1) === CHAR_COLON) end--;
  const last = line.charCodeAt(end - 1);
  if (last === CHAR_CLOSE_BRACKET || last === CHAR_CLOSE_PAREN || last === CHAR_GREATER) end--;
  return line.slice(start, end);
}

function isSeparator(code: number): boolean {
  return (
    code === CHAR_SPACE ||
    code === CHAR_TAB ||
    code === CHAR_COMMA ||
    code === CHAR_MINUS ||
    code === CHAR_PIPE ||
    code === CHAR_CLOSE_BRACKET
  );
}

function levelSomewhere(line: string): Level | null {
  const head = line.length > LEVEL_SEARCH_CHARS ? line.slice(0, LEVEL_SEARCH_CHARS) : line;
  const match = LEVEL_SOMEWHERE.exec(head);
  if (match === null) return null;
  return levelFromWord(match[1] ?? match[2]);
}

/**
 * Microseconds for a month, day and time of day without a year: the latest year, from
 * `nowUs`'s back, in which the date exists and lies at most YEARLESS_FUTURE_SLACK_US ahead.
 */
function yearlessMicros(month: number, day: number, timeOfDayUs: number, nowUs: number): number | null {
  if (nowUs !== cachedNowUs) {
    cachedNowUs = nowUs;
    cachedNowYear = utcYearOf(nowUs);
  }
  // Eight years back reach a leap year from any year (1900-style century gaps included).
  for (let year = cachedNowYear; year >= cachedNowYear - 8; year--) {
    const midnight = utcMicros(year, month, day, 0, 0, 0, 0);
    if (midnight !== null && midnight + timeOfDayUs <= nowUs + YEARLESS_FUTURE_SLACK_US) return midnight + timeOfDayUs;
  }
  return null;
}

/** `HH:mm:ss` with an optional `.fraction` or `,fraction` at `position`; sets clockMicros and readEnd. */
function readClock(line: string, position: number): boolean {
  const hour = digits2(line, position);
  const minute = digits2(line, position + 3);
  const second = digits2(line, position + 6);
  if (hour < 0 || minute < 0 || second < 0 || hour > 23 || minute > 59 || second > 60) return false;
  if (line.charCodeAt(position + 2) !== CHAR_COLON || line.charCodeAt(position + 5) !== CHAR_COLON) return false;
  position += 8;
  let micros = 0;
  const mark = line.charCodeAt(position);
  if ((mark === CHAR_DOT || mark === CHAR_COMMA) && isDigitAt(line, position + 1)) {
    position = scanFraction(line, position + 1);
    micros = scannedFractionMicros;
  }
  clockMicros = ((hour * 60 + minute) * 60 + second) * MICROS_PER_SECOND + micros;
  readEnd = position;
  return true;
}

/** 1 to `digitsMax` decimal digits at `position` (no more may follow); sets readEnd. -1 when none. */
function readNumber(line: string, position: number, digitsMax: number): number {
  let value = 0;
  let end = position;
  while (isDigitAt(line, end)) {
    if (end - position === digitsMax) return -1;
    value = value * 10 + (line.charCodeAt(end) - CHAR_0);
    end++;
  }
  readEnd = end;
  return end === position ? -1 : value;
}

function skipSpaces(line: string, position: number): number {
  while (line.charCodeAt(position) === CHAR_SPACE) position++;
  return position;
}

/** POSIX strptime's %y: 69-99 are 1969-1999, 00-68 are 2000-2068. */
function fullYear(twoDigits: number): number {
  return twoDigits >= 69 ? 1900 + twoDigits : 2000 + twoDigits;
}

function monthAt(line: string, position: number): number {
  return MONTH_BY_CODE.get(nameCode(line, position)) ?? 0;
}

/** Three ASCII characters at `position`, lower-cased, packed into one number; 0 for anything else. */
function nameCode(text: string, position: number): number {
  const first = text.charCodeAt(position);
  const second = text.charCodeAt(position + 1);
  const third = text.charCodeAt(position + 2);
  // Past the end, NaN | 0x20 reads as a space, which no month or weekday name contains.
  if ((first | second | third) > 0x7f) return 0;
  return ((first | 0x20) << 16) | ((second | 0x20) << 8) | (third | 0x20);
}

function isLetterAt(line: string, position: number): boolean {
  const code = line.charCodeAt(position) | 0x20;
  return code >= 97 && code <= 122;
}

/** True for a letter, digit or `_`: a timestamp followed by one of these is part of a longer word. */
function isWordCharAt(line: string, position: number): boolean {
  const code = line.charCodeAt(position);
  return isLetterAt(line, position) || (code >= CHAR_0 && code <= CHAR_0 + 9) || code === 95;
}
