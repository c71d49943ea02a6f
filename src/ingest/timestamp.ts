// Event timestamps: every accepted spelling becomes microseconds since the Unix epoch (UTC).
//
// This runs once per ingested event, so the common shapes are parsed by hand from
// char codes: no Date.parse (which also reads zone-less ISO text as local time), no
// regular expressions, no allocation on success.

/** Earliest accepted event time, microseconds since the epoch: 1970-01-01T00:00:00Z. */
const TIMESTAMP_US_MIN = 0;
/** First rejected event time, microseconds since the epoch: 2200-01-01T00:00:00Z (exclusive bound). */
export const TIMESTAMP_US_MAX = 7_258_118_400_000_000;

// Magnitude cut-offs for bare epoch numbers (and all-digit strings). A value below
// EPOCH_SECONDS_BELOW is seconds, below EPOCH_MILLISECONDS_BELOW milliseconds, below
// EPOCH_MICROSECONDS_BELOW microseconds, and anything larger nanoseconds. Each unit
// thereby owns the dates from early 1973 onward (1e11 ms, 1e14 µs and 1e17 ns are all
// 1973-03-03), and seconds own everything up to the 2200 bound. The price: a millisecond,
// microsecond or nanosecond epoch from before March 1973 is read as the next coarser
// unit and falls outside the accepted range, so it is rejected rather than misdated.
/** Epoch numbers below this are seconds (1e11 s is the year 5138). */
export const EPOCH_SECONDS_BELOW = 1e11;
/** Epoch numbers below this (and at least EPOCH_SECONDS_BELOW) are milliseconds. */
export const EPOCH_MILLISECONDS_BELOW = 1e14;
/** Epoch numbers below this (and at least EPOCH_MILLISECONDS_BELOW) are microseconds; larger ones nanoseconds. */
export const EPOCH_MICROSECONDS_BELOW = 1e17;

const MICROS_PER_SECOND = 1_000_000;
const MICROS_PER_MINUTE = 60 * MICROS_PER_SECOND;
const MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND;
const POW10 = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];
const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const CHAR_0 = 48;
const CHAR_9 = 57;
const CHAR_PLUS = 43;
const CHAR_COMMA = 44;
const CHAR_MINUS = 45;
const CHAR_DOT = 46;
const CHAR_SLASH = 47;
const CHAR_COLON = 58;
const CHAR_SPACE = 32;
const CHAR_UPPER_T = 84;
const CHAR_LOWER_T = 116;
const CHAR_UPPER_Z = 90;
const CHAR_LOWER_Z = 122;

/** Where a scan ended and what it found; callers reuse one instance to avoid allocation. */
export interface TimestampScan {
  /** Microseconds since the epoch (UTC). */
  us: number;
  /** Index just past the last character consumed. */
  end: number;
}

/**
 * Parses an event timestamp into microseconds since the epoch (UTC), or null when the
 * value is not a recognizable time between 1970 and 2200.
 *
 * - Strings in RFC 3339 / ISO 8601 extended form: `2026-11-21T10:00:00.123456789Z`,
 *   `T` or a space between date and time, `.` or `,` before the fraction, `Z` or an
 *   offset (`+02:00`, `+0200`, `+02`); no zone means UTC. Seconds may be omitted
 *   (`10:00`) and so may the whole time (`2026-11-21`, midnight UTC).
 * - Numbers are epoch seconds, milliseconds, microseconds or nanoseconds by magnitude
 *   (see EPOCH_SECONDS_BELOW and its siblings) and rounded to the nearest microsecond,
 *   since a binary float cannot carry exact decimal digits.
 * - All-digit strings (optionally with a `.fraction`) follow the same magnitude rule,
 *   counted on their digits so that nanosecond strings keep full precision; digits
 *   finer than a microsecond are truncated, as they are in RFC 3339 fractions.
 *
 * 0 (the epoch itself) is returned as 0, which NormalizedEvent reads as "unknown".
 */
export function parseTimestamp(value: unknown): number | null {
  if (typeof value === "string") return parseTimestampText(value);
  if (typeof value === "number") return epochNumberToMicros(value);
  return null;
}

function parseTimestampText(text: string): number | null {
  let start = 0;
  let end = text.length;
  // Tolerate surrounding whitespace without paying for trim() on the common path.
  while (start < end && text.charCodeAt(start) <= CHAR_SPACE) start++;
  while (end > start && text.charCodeAt(end - 1) <= CHAR_SPACE) end--;
  if (start === end) return null;
  if (isDigitAt(text, start + 4) || end - start < 10) return parseEpochDigits(text, start, end);
  const trimmed = start === 0 && end === text.length ? text : text.slice(start, end);
  if (!scanDateTime(trimmed, 0, strictScan, false)) return null;
  return strictScan.end === trimmed.length ? strictScan.us : null;
}

const strictScan: TimestampScan = { us: 0, end: 0 };

function epochNumberToMicros(value: number): number | null {
  if (!(value >= 0) || !Number.isFinite(value)) return null;
  let us: number;
  if (value < EPOCH_SECONDS_BELOW) us = Math.round(value * MICROS_PER_SECOND);
  else if (value < EPOCH_MILLISECONDS_BELOW) us = Math.round(value * 1000);
  else if (value < EPOCH_MICROSECONDS_BELOW) us = Math.round(value);
  else us = Math.round(value / 1000);
  return us < TIMESTAMP_US_MAX ? us : null;
}

/**
 * Reads `text[start, end)` as an epoch number written in decimal digits with an
 * optional `.fraction`, unit chosen by the count of significant integer digits (the
 * same cut-offs as for numbers). Returns null for anything else or out of range.
 */
export function parseEpochDigits(text: string, start: number, end: number): number | null {
  let position = start;
  while (position < end && text.charCodeAt(position) === CHAR_0) position++;
  const significantStart = position;
  while (position < end && isDigitAt(text, position)) position++;
  const integerEnd = position;
  if (integerEnd === start) return null; // no digits at all
  let fractionStart = end;
  if (position < end) {
    if (text.charCodeAt(position) !== CHAR_DOT || position + 1 === end) return null;
    fractionStart = position + 1;
    for (position = fractionStart; position < end; position++) if (!isDigitAt(text, position)) return null;
  }
  const digits = integerEnd - significantStart;
  // Decimal exponent that turns the integer part into microseconds.
  let exponent: number;
  if (digits <= 11) exponent = 6;
  else if (digits <= 14) exponent = 3;
  else if (digits <= 17) exponent = 0;
  else if (digits <= 19) exponent = -3;
  else return null;
  // Keep only the digits that land at or above the microsecond.
  const keptIntegerEnd = exponent < 0 ? integerEnd + exponent : integerEnd;
  let us = 0;
  for (let index = significantStart; index < keptIntegerEnd; index++) us = us * 10 + (text.charCodeAt(index) - CHAR_0);
  if (exponent > 0) {
    let fraction = 0;
    for (let index = 0; index < exponent; index++) {
      const at = fractionStart + index;
      fraction = fraction * 10 + (at < end ? text.charCodeAt(at) - CHAR_0 : 0);
    }
    us = us * POW10[exponent] + fraction;
  }
  return us < TIMESTAMP_US_MAX ? us : null;
}

/**
 * Scans an ISO 8601 extended date-time starting at `start` (see parseTimestamp for the
 * accepted shapes) and stores its value and end in `out`. Returns false when the text
 * there is not one, or names a time outside 1970..2200.
 *
 * `lenient` is for plain-text log lines: it also accepts `/` as the date separator
 * (`2026/11/21 10:00:00`, nginx) but requires a time, and requires the timestamp to end
 * at a non-alphanumeric character so that `2026-11-21 10:00:00abc` is not a match.
 */
export function scanDateTime(text: string, start: number, out: TimestampScan, lenient: boolean): boolean {
  const year = digits4(text, start);
  const separator = text.charCodeAt(start + 4);
  if (year < 0 || !(separator === CHAR_MINUS || (lenient && separator === CHAR_SLASH))) return false;
  const month = digits2(text, start + 5);
  const day = digits2(text, start + 8);
  if (month < 0 || day < 0 || text.charCodeAt(start + 7) !== separator) return false;
  let position = start + 10;
  if (position === text.length && !lenient) return storeScan(out, utcMicros(year, month, day, 0, 0, 0, 0), position);
  const between = text.charCodeAt(position);
  if (between !== CHAR_UPPER_T && between !== CHAR_LOWER_T && between !== CHAR_SPACE) return false;
  const hour = digits2(text, position + 1);
  const minute = digits2(text, position + 4);
  if (hour < 0 || minute < 0 || text.charCodeAt(position + 3) !== CHAR_COLON) return false;
  position += 6;
  let second = 0;
  if (text.charCodeAt(position) === CHAR_COLON) {
    second = digits2(text, position + 1);
    if (second < 0) return false;
    position += 3;
  }
  let micros = 0;
  const mark = text.charCodeAt(position);
  if ((mark === CHAR_DOT || mark === CHAR_COMMA) && isDigitAt(text, position + 1)) {
    position = scanFraction(text, position + 1);
    micros = scannedFractionMicros;
  }
  let zoneMinutes = scanZone(text, position);
  if (zoneMinutes === ZONE_INVALID) {
    // Strict input must be well formed; in a text line a stray `-5` after the time is
    // more likely the start of the message than a broken zone.
    if (!lenient) return false;
    zoneMinutes = 0;
    scannedZoneEnd = position;
  }
  position = scannedZoneEnd;
  if (lenient && isAlphanumericAt(text, position)) return false;
  const local = utcMicros(year, month, day, hour, minute, second, micros);
  if (local === null) return false;
  return storeScan(out, local - zoneMinutes * MICROS_PER_MINUTE, position);
}

function storeScan(out: TimestampScan, us: number | null, end: number): boolean {
  if (us === null || us < TIMESTAMP_US_MIN || us >= TIMESTAMP_US_MAX) return false;
  out.us = us;
  out.end = end;
  return true;
}

// Results of the two helpers below, kept in module state so the hot path allocates nothing.
/** Microseconds read by the last scanFraction. */
export let scannedFractionMicros = 0;
let scannedZoneEnd = 0;
const ZONE_INVALID = -1e9;

/** Reads fraction digits from `position`; keeps the first six as microseconds (scannedFractionMicros), truncating the rest. */
export function scanFraction(text: string, position: number): number {
  let micros = 0;
  let kept = 0;
  while (isDigitAt(text, position)) {
    if (kept < 6) {
      micros = micros * 10 + (text.charCodeAt(position) - CHAR_0);
      kept++;
    }
    position++;
  }
  scannedFractionMicros = micros * POW10[6 - kept];
  return position;
}

/** Reads an optional zone designator; returns its offset east of UTC in minutes. */
function scanZone(text: string, position: number): number {
  const mark = text.charCodeAt(position);
  scannedZoneEnd = position;
  if (mark === CHAR_UPPER_Z || mark === CHAR_LOWER_Z) {
    scannedZoneEnd = position + 1;
    return 0;
  }
  if ((mark !== CHAR_PLUS && mark !== CHAR_MINUS) || !isDigitAt(text, position + 1)) return 0;
  const hours = digits2(text, position + 1);
  let minutes = 0;
  let end = position + 3;
  if (text.charCodeAt(end) === CHAR_COLON) {
    minutes = digits2(text, end + 1);
    end += 3;
  } else if (isDigitAt(text, end)) {
    minutes = digits2(text, end);
    end += 2;
  }
  if (hours < 0 || hours > 23 || minutes < 0 || minutes > 59) return ZONE_INVALID;
  scannedZoneEnd = end;
  const offset = hours * 60 + minutes;
  return mark === CHAR_MINUS ? -offset : offset;
}

/**
 * Microseconds since the epoch for a UTC civil time, or null when a field is out of its
 * range (month 1-12, day within the month, hour 0-23, minute 0-59, second 0-60 where 60
 * is a leap second, microsecond 0-999999) or the time is outside 1970..2200.
 */
export function utcMicros(
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  microsecond: number,
): number | null {
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60 || microsecond > 999_999) return null;
  if (day > DAYS_IN_MONTH[month] && !(month === 2 && day === 29 && isLeapYear(year))) return null;
  const us =
    daysFromCivil(year, month, day) * MICROS_PER_DAY +
    ((hour * 60 + minute) * 60 + second) * MICROS_PER_SECOND +
    microsecond;
  return us >= TIMESTAMP_US_MIN && us < TIMESTAMP_US_MAX ? us : null;
}

/** The UTC calendar year that contains the given instant (microseconds since the epoch). */
export function utcYearOf(us: number): number {
  // Howard Hinnant's civil_from_days, reduced to the year.
  const days = Math.floor(us / MICROS_PER_DAY) + 719_468;
  const era = Math.floor(days / 146_097);
  const dayOfEra = days - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra - Math.floor(dayOfEra / 1460) + Math.floor(dayOfEra / 36_524) - Math.floor(dayOfEra / 146_096)) / 365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153); // 0 = March
  return yearOfEra + era * 400 + (shiftedMonth >= 10 ? 1 : 0);
}

/** Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const shiftedYear = month <= 2 ? year - 1 : year;
  const era = Math.floor(shiftedYear / 400);
  const yearOfEra = shiftedYear - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

function isLeapYear(year: number): boolean {
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
}

/** Two decimal digits at `position` as a number, or -1. */
export function digits2(text: string, position: number): number {
  const high = text.charCodeAt(position) - CHAR_0;
  const low = text.charCodeAt(position + 1) - CHAR_0;
  // NaN (past the end) fails both comparisons and lands on -1 too.
  return high >= 0 && high <= 9 && low >= 0 && low <= 9 ? high * 10 + low : -1;
}

/** Four decimal digits at `position` as a number, or -1. */
export function digits4(text: string, position: number): number {
  const high = digits2(text, position);
  const low = digits2(text, position + 2);
  return high >= 0 && low >= 0 ? high * 100 + low : -1;
}

/** True when `text[position]` is an ASCII digit (false past the end). Shared with text-line.ts. */
export function isDigitAt(text: string, position: number): boolean {
  const code = text.charCodeAt(position);
  return code >= CHAR_0 && code <= CHAR_9;
}

function isAlphanumericAt(text: string, position: number): boolean {
  const code = text.charCodeAt(position) | 0x20; // folds A-Z onto a-z; NaN becomes 0x20
  return (code >= 97 && code <= 122) || (code >= CHAR_0 && code <= CHAR_9);
}

/** Formats microseconds as RFC 3339 with microsecond precision (how the API writes times). */
export function formatTimestampUs(us: number): string {
  const iso = new Date(Math.floor(us / 1000)).toISOString();
  return `${iso.slice(0, 23)}${String(us % 1000).padStart(3, "0")}Z`;
}
