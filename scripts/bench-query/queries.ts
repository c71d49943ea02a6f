// The issue's five queries (and today's single group_by), each as Sluice's API path and
// as ClickHouse SQL with the same parameters for run i, and how each answer is checked
// against what the generator made.

import { bucketTotal } from "../bench-lib.ts";
import { sqlString } from "../clickhouse/server.ts";
import { DATASET_SPAN_US, TSV_COLUMNS, type DatasetSummary } from "../gen-dataset.ts";
import { MINUTE_US } from "../../src/storage/minute-counts.ts";

export interface QueryContext {
  summary: DatasetSummary;
  /** Start of "the whole 24 h": the dataset's start, or now - 24 h if that is earlier (an old data dir). */
  wholeFromUs: number;
}

/** What a query answered, reduced to what is checked. */
export interface Answer {
  /** Why the answer is known to be incomplete (Sluice's `partial`: shards that did not answer in time). */
  partial?: string;
  rows: Record<string, any>[];
  /** Sum of every count (aggregates). */
  total: number;
  /** Groups or buckets (aggregates). */
  groups: number;
}

export interface QueryKind {
  name: string;
  title: string;
  /** The issue's p99 goal for Sluice, ms; null for a query outside the goals. */
  goalMs: number | null;
  sluice(run: number, context: QueryContext, nowUs: number): string;
  clickhouse(run: number, context: QueryContext, nowUs: number): string;
  /** Why the answer is wrong, or undefined when it is plausible. */
  check(run: number, context: QueryContext, answer: Answer): string | undefined;
}

const COLUMNS = TSV_COLUMNS.join(", ");
// ClickHouse filters time on the DateTime column `ts` (seconds) alone, as its users do
// (reading timestamp_us too would cost a second 8-byte column), and counts from the
// per-minute view logs_minute_counts (schema.sql): "last 24 h" there starts at a whole
// minute, and the histogram's windows are whole minutes, so its counts stay exact.
export const HOUR_US = 3_600_000_000;
/** Services asked for `service:X level:ERROR`: the most popular, which log errors every few seconds. */
const ERROR_QUERY_SERVICES = 20;
/** Epoch microseconds to whole seconds (ClickHouse's DateTime). */
export const seconds = (us: number) => Math.floor(us / 1_000_000);
/** Epoch microseconds as RFC 3339. */
export const iso = (us: number) => new Date(us / 1000).toISOString();
const q = (text: string) => encodeURIComponent(text);
/**
 * "Last 24 h" from its first whole minute, as a dashboard asks it: ClickHouse's
 * per-minute view can only start at a minute, and Sluice then answers from its
 * counters alone (README: dashboard counters). Both systems get the same range.
 */
const dayAgoMinuteUs = (nowUs: number) => Math.ceil((nowUs - 24 * HOUR_US) / MINUTE_US) * MINUTE_US;

const traceOf = (run: number, context: QueryContext) => context.summary.trace_samples[(run * 7919) % context.summary.trace_samples.length];
const needleOf = (run: number, context: QueryContext) => context.summary.needles[run % context.summary.needles.length];
const serviceOf = (run: number, context: QueryContext) => context.summary.services[run % Math.min(ERROR_QUERY_SERVICES, context.summary.services.length)];
/** A minute-aligned 1 h window inside the loaded 24 h (its expected counts are known exactly). */
const windowOf = (run: number, context: QueryContext) => {
  const minute = (run * 7919 + 13) % (DATASET_SPAN_US / MINUTE_US - 60);
  return { minute, fromUs: context.summary.start_us + minute * MINUTE_US, toUs: context.summary.start_us + minute * MINUTE_US + HOUR_US };
};

export const QUERY_KINDS: QueryKind[] = [
  {
    name: "trace_id",
    title: "trace_id lookup, whole 24 h",
    goalMs: 200,
    sluice: (run, context) => `/api/v1/logs/search?q=${q(`trace_id:${traceOf(run, context).trace_id}`)}&from=${context.wholeFromUs}&limit=100`,
    clickhouse: (run, context) => {
      const id = sqlString(traceOf(run, context).trace_id);
      return `SELECT ${COLUMNS} FROM logs WHERE trace_id = ${id} AND toStartOfHour(ts) IN (SELECT hour FROM logs_trace_hours WHERE trace_id = ${id}) AND ts >= toDateTime(${seconds(context.wholeFromUs)}) ORDER BY timestamp_us DESC LIMIT 100`;
    },
    check: (run, context, answer) => {
      const trace = traceOf(run, context);
      if (answer.rows.length !== trace.events) return `trace ${trace.trace_id}: ${answer.rows.length} events, expected ${trace.events}`;
      if (answer.rows.some((row) => row.trace_id !== trace.trace_id)) return `trace ${trace.trace_id}: an event of another trace`;
    },
  },
  {
    name: "rare_word",
    title: "rare word in the message, whole 24 h",
    goalMs: 1000,
    sluice: (run, context) => `/api/v1/logs/search?q=${q(needleOf(run, context).word)}&from=${context.wholeFromUs}&limit=100`,
    clickhouse: (run, context) => `SELECT ${COLUMNS} FROM logs WHERE positionCaseInsensitive(message, ${sqlString(needleOf(run, context).word)}) > 0 AND ts >= toDateTime(${seconds(context.wholeFromUs)}) ORDER BY timestamp_us DESC LIMIT 100`,
    check: (run, context, answer) => {
      const needle = needleOf(run, context);
      if (answer.rows.length !== needle.count) return `word ${needle.word}: ${answer.rows.length} events, expected ${needle.count}`;
      if (answer.rows.some((row) => !String(row.message).toLowerCase().includes(needle.word))) return `word ${needle.word}: a message without it`;
    },
  },
  {
    name: "service_errors",
    title: "`service:X level:ERROR` last 15 min, first page",
    goalMs: 100,
    sluice: (run, context) => `/api/v1/logs/search?q=${q(`service:${serviceOf(run, context)} level:ERROR`)}&from=now-15m&limit=100`,
    clickhouse: (run, context, nowUs) => `SELECT ${COLUMNS} FROM logs WHERE service = ${sqlString(serviceOf(run, context))} AND level = 'ERROR' AND ts >= toDateTime(${seconds(nowUs - 15 * MINUTE_US)}) ORDER BY timestamp_us DESC LIMIT 100`,
    check: (run, context, answer) => {
      const service = serviceOf(run, context);
      if (answer.rows.some((row) => row.service !== service || row.level !== "ERROR")) return `service ${service}: a row of another service or level`;
      if (answer.rows.length === 0) return `service ${service}: no ERROR events in the last 15 min`;
    },
  },
  {
    name: "count_service_level",
    title: "count by service and level, last 24 h",
    goalMs: 50,
    sluice: (_run, _context, nowUs) => `/api/v1/logs/aggregate?group_by=service,level&from=${dayAgoMinuteUs(nowUs)}`,
    clickhouse: (_run, _context, nowUs) => `SELECT service, level, sum(events) AS count FROM logs_minute_counts WHERE minute >= toDateTime(${seconds(dayAgoMinuteUs(nowUs))}) GROUP BY service, level`,
    check: (_run, context, answer) => {
      const pairs = Object.values(context.summary.counts_by_service_level).reduce((sum, byLevel) => sum + Object.keys(byLevel).length, 0);
      if (answer.groups < pairs / 2) return `${answer.groups} groups; the dataset has ${pairs} (service, level) pairs`;
      if (answer.total <= 0) return "no events counted";
    },
  },
  {
    name: "histogram_1h",
    title: "histogram of a 1 h window, 1 min buckets",
    goalMs: 200,
    sluice: (run, context) => `/api/v1/logs/aggregate?interval=1m&from=${iso(windowOf(run, context).fromUs)}&to=${iso(windowOf(run, context).toUs)}`,
    clickhouse: (run, context) => {
      const { fromUs, toUs } = windowOf(run, context);
      return `SELECT minute, sum(events) AS count FROM logs_minute_counts WHERE minute >= toDateTime(${seconds(fromUs)}) AND minute < toDateTime(${seconds(toUs)}) GROUP BY minute ORDER BY minute`;
    },
    check: (run, context, answer) => {
      const { minute } = windowOf(run, context);
      const expected = context.summary.counts_per_minute.slice(minute, minute + 60).reduce((sum, count) => sum + count, 0);
      if (answer.total !== expected) return `window at minute ${minute}: ${answer.total} events counted, ${expected} generated`;
      if (answer.groups < 55 || answer.groups > 61) return `window at minute ${minute}: ${answer.groups} buckets, expected 60`;
    },
  },
  {
    name: "count_service",
    title: "count by service, last 24 h (today's single group_by)",
    goalMs: null,
    sluice: (_run, _context, nowUs) => `/api/v1/logs/aggregate?group_by=service&from=${dayAgoMinuteUs(nowUs)}`,
    clickhouse: (_run, _context, nowUs) => `SELECT service, sum(events) AS count FROM logs_minute_counts WHERE minute >= toDateTime(${seconds(dayAgoMinuteUs(nowUs))}) GROUP BY service`,
    check: (_run, context, answer) => {
      if (answer.groups < context.summary.services.length / 2) return `${answer.groups} services; the dataset has ${context.summary.services.length}`;
    },
  },
];

/** Reads Sluice's JSON: a search's rows, or an aggregate's buckets (groups) and their total. */
export function sluiceAnswer(json: Record<string, any>): Answer {
  const partial = json.partial === true ? `partial answer: ${JSON.stringify(json.missing_shards ?? []).slice(0, 160)}` : undefined;
  if (Array.isArray(json.logs)) return { partial, rows: json.logs, total: json.logs.length, groups: json.logs.length };
  const buckets: { count: number }[] = json.buckets ?? [];
  return { partial, rows: [], total: bucketTotal(buckets), groups: buckets.length };
}

export function clickhouseAnswer(json: { data: Record<string, any>[] }): Answer {
  const counted = json.data.length > 0 && typeof json.data[0].count === "number";
  return { rows: counted ? [] : json.data, total: counted ? json.data.reduce((sum, row) => sum + row.count, 0) : json.data.length, groups: json.data.length };
}
