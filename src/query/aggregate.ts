// Aggregations: what `GET /api/v1/logs/aggregate` asks (group by fields and metadata
// paths, a time histogram, count, count_distinct, min, max, sum, avg and percentiles
// of a numeric field, top-k groups), the SQL a shard runs for it, the exact merge of
// shard replies, and the API shape. Pure.
//
// Percentiles travel as mergeable log-bucket sketches (DDSketch): a shard counts values
// per bucket of width 2% (gamma 1.02), the gateway adds the buckets and reads the
// quantile off them, within 1% of the true value. Distinct counts are exact up to
// COUNT_DISTINCT_EXACT_MAX values a group and shard, then marked approximate.

import type { SqlParam } from "../storage/duckdb.ts";
import { formatTimestampUs } from "../ingest/timestamp.ts";
import { fieldName, isMetadataPath, QUERY_FIELDS, type FieldRef } from "./ast.ts";
import { integerParam, QueryError, splitList, UNIT_US } from "./filter.ts";
import { AGGREGATE_FUNCTIONS_MAX, AGGREGATE_GROUP_FIELDS_MAX, AGGREGATE_GROUPS_MAX, COUNT_DISTINCT_EXACT_MAX, HISTOGRAM_BUCKETS_MAX } from "./limits.ts";
import { columnSql, NUMERIC_TEXT_PATTERN } from "./planner.ts";
import { levelName } from "../storage/schema.ts";

/** A field to group by or aggregate: a named column or a metadata path. */
export type AggField = FieldRef;
const NAMED_FIELDS = QUERY_FIELDS.filter((field) => field !== "message");

export const AGG_FUNCTIONS = ["count", "count_distinct", "min", "max", "sum", "avg", "p50", "p90", "p95", "p99"] as const;
export type AggFunctionName = (typeof AGG_FUNCTIONS)[number];
/** A function over a field; count has none. Numeric functions take metadata paths. */
export interface AggFunction {
  fn: AggFunctionName;
  field?: AggField;
}

export interface AggregateSpec {
  groupBy: AggField[];
  /** Width of a time-histogram bucket, microseconds; absent: no time grouping. */
  intervalUs?: number;
  /** Beyond count, which every group has. */
  functions: AggFunction[];
  /** Keep the k largest groups by count. */
  top?: number;
}

const PERCENTILES: Partial<Record<AggFunctionName, number>> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 };
const SKETCH_GAMMA = 1.02;
/** Keeps sketch bucket indices positive: ln(1e-300)/ln(1.02) is about -34,900. */
const SKETCH_OFFSET = 100_000;

function functionLabel(fn: AggFunction): string {
  return fn.field ? `${fn.fn}(${fieldName(fn.field)})` : fn.fn;
}

function parseField(raw: string, what: string): AggField {
  if ((NAMED_FIELDS as readonly string[]).includes(raw)) return { name: raw as Exclude<(typeof QUERY_FIELDS)[number], "message"> };
  if (raw.startsWith("metadata.")) {
    const path = raw.slice("metadata.".length).split(".");
    if (path.length > 0 && path.length <= 16 && isMetadataPath(path)) return { metadata: path };
  }
  throw new QueryError("bad_parameter", `${what}: ${JSON.stringify(raw.slice(0, 64))} is not one of ${NAMED_FIELDS.join(", ")} or metadata.<path>`);
}

const DURATION = /^(\d{1,9})(ms|s|m|h|d|w)$/;

/** `30s`, `1m`, `1h`, `1d` to microseconds. */
function parseDurationUs(raw: string, what: string): number {
  const match = DURATION.exec(raw.trim());
  if (!match || Number(match[1]) === 0) throw new QueryError("bad_parameter", `${what}: ${JSON.stringify(raw.slice(0, 32))} is not a duration like 30s, 1m, 1h or 1d`);
  return Number(match[1]) * UNIT_US[match[2]];
}

const FUNCTION_CALL = /^([a-z_0-9]+)(?:\(([^()]*)\))?$/;

/** Parses group_by, interval, agg and top; `fromUs`/`toUs` bound the histogram. */
export function parseAggregateSpec(params: URLSearchParams, range: { fromUs?: number; toUs?: number }, nowUs: number = Date.now() * 1000): AggregateSpec {
  const groupByRaw = splitList(params, "group_by");
  const intervalRaw = params.get("interval");
  const intervalUs = intervalRaw ? parseDurationUs(intervalRaw, "interval") : undefined;
  if (intervalUs !== undefined) {
    if (intervalUs < 1_000_000) throw new QueryError("bad_parameter", "interval: the smallest bucket is 1s");
    if (range.fromUs === undefined) throw new QueryError("bad_parameter", "interval needs from (the histogram's start), e.g. from=now-1h");
    const buckets = Math.ceil(((range.toUs ?? nowUs) - range.fromUs) / intervalUs);
    if (buckets > HISTOGRAM_BUCKETS_MAX) throw new QueryError("bad_parameter", `interval: ${buckets} buckets over the range, more than ${HISTOGRAM_BUCKETS_MAX}; use a wider interval`);
  }
  // The seed's default: count by service.
  const groupBy = (groupByRaw.length === 0 && intervalUs === undefined ? ["service"] : groupByRaw).map((raw) => parseField(raw, "group_by"));
  if (groupBy.length > AGGREGATE_GROUP_FIELDS_MAX) throw new QueryError("bad_parameter", `group_by: at most ${AGGREGATE_GROUP_FIELDS_MAX} fields`);
  const functions: AggFunction[] = [];
  for (const raw of params.getAll("agg").flatMap((value) => value.split(/,(?![^(]*\))/)).map((value) => value.trim()).filter((value) => value !== "")) {
    const match = FUNCTION_CALL.exec(raw);
    const fn = match?.[1] as AggFunctionName | undefined;
    if (!match || !fn || !(AGG_FUNCTIONS as readonly string[]).includes(fn)) throw new QueryError("bad_parameter", `agg: ${JSON.stringify(raw.slice(0, 64))} is not one of ${AGG_FUNCTIONS.map((name) => (name === "count" ? name : `${name}(field)`)).join(", ")}`);
    if (fn === "count") {
      if (match[2] !== undefined && match[2] !== "") throw new QueryError("bad_parameter", "agg: count takes no field");
      continue; // every group has its count
    }
    if (match[2] === undefined || match[2] === "") throw new QueryError("bad_parameter", `agg: ${fn} needs a field, e.g. ${fn}(metadata.duration_ms)`);
    const field = parseField(match[2].trim(), "agg");
    if (fn !== "count_distinct" && !("metadata" in field)) throw new QueryError("bad_parameter", `agg: ${fn} needs a numeric metadata field, e.g. ${fn}(metadata.duration_ms)`);
    functions.push({ fn, field });
  }
  if (functions.length > AGGREGATE_FUNCTIONS_MAX) throw new QueryError("bad_parameter", `agg: at most ${AGGREGATE_FUNCTIONS_MAX} functions`);
  return { groupBy, intervalUs, functions, top: integerParam(params, "top", 1, AGGREGATE_GROUPS_MAX) };
}

/** Whether the API answers in the seed's shape `{"aggregations":{key:count}}` too. */
function isSimpleCount(spec: AggregateSpec): boolean {
  return spec.groupBy.length === 1 && spec.intervalUs === undefined && spec.functions.length === 0;
}

// ---------------------------------------------------------------------------------
// SQL

function numberSql(field: AggField, bind: (value: SqlParam) => string): string {
  const text = columnSql(field, bind);
  return `(CASE WHEN regexp_full_match(${text}, ${bind(NUMERIC_TEXT_PATTERN)}) THEN TRY_CAST(${text} AS DOUBLE) END)`;
}

/** The select list of a shard's aggregate: g0.., t (bucket start), n (count), f0.. per function. */
export function aggregateSelectSql(spec: AggregateSpec, bind: (value: SqlParam) => string): string {
  const columns: string[] = spec.groupBy.map((field, index) => `${columnSql(field, bind)} AS g${index}`);
  if (spec.intervalUs !== undefined) {
    const width = bind(spec.intervalUs);
    columns.push(`(floor(ts / ${width}) * ${width})::BIGINT AS t`);
  }
  columns.push("count(*) AS n");
  spec.functions.forEach((fn, index) => {
    const field = fn.field!;
    switch (fn.fn) {
      case "count_distinct": {
        const value = columnSql(field, bind);
        columns.push(`count(DISTINCT ${value}) AS f${index}`, `CASE WHEN count(DISTINCT ${value}) <= ${COUNT_DISTINCT_EXACT_MAX} THEN list(DISTINCT ${value}) FILTER (WHERE ${value} IS NOT NULL) END AS v${index}`);
        break;
      }
      case "min":
      case "max":
      case "sum":
        columns.push(`${fn.fn}(${numberSql(field, bind)}) AS f${index}`);
        break;
      case "avg": {
        const value = numberSql(field, bind);
        columns.push(`sum(${value}) AS f${index}`, `count(${value}) AS v${index}`);
        break;
      }
      default: {
        const value = numberSql(field, bind);
        const ln = bind(Math.log(SKETCH_GAMMA));
        const offset = bind(SKETCH_OFFSET);
        // Bucket k holds (gamma^(k-1), gamma^k]; the sign is the key's; zero is 0.
        const key = `CASE WHEN ${value} > 0 THEN (ceil(ln(${value}) / ${ln}) + ${offset})::BIGINT WHEN ${value} < 0 THEN -(ceil(ln(-${value}) / ${ln}) + ${offset})::BIGINT WHEN ${value} = 0 THEN 0 END`;
        columns.push(`map_entries(histogram(${key}) FILTER (WHERE ${value} IS NOT NULL AND ${value} <> 'inf'::DOUBLE AND ${value} <> '-inf'::DOUBLE)) AS f${index}`);
      }
    }
  });
  return columns.join(", ");
}

// ---------------------------------------------------------------------------------
// Shard replies and their merge

/** One group of a shard's reply: its key values (group fields, then the bucket start), count and function states. */
export interface AggregateRow {
  key: (string | number | null)[];
  n: number;
  /** Per function: number | null (min/max/sum/count_distinct), [sum, count] (avg), [[bucket, count]...] (percentiles); distinct values in `values`. */
  f: unknown[];
  /** Per function: the distinct values of count_distinct when exact, else null. */
  values?: (string[] | null)[];
}

/** A DuckDB result row of aggregateSelectSql into an AggregateRow (level as its name). */
export function aggregateRowOf(spec: AggregateSpec, row: Record<string, unknown>): AggregateRow {
  const key: (string | number | null)[] = spec.groupBy.map((field, index) => {
    const value = row[`g${index}`];
    if (value === null || value === undefined) return null;
    if ("name" in field && field.name === "level") return levelName(Number(value));
    return String(value);
  });
  if (spec.intervalUs !== undefined) key.push(Number(row.t));
  const f: unknown[] = [];
  const values: (string[] | null)[] = [];
  spec.functions.forEach((fn, index) => {
    const value = row[`f${index}`];
    const num = (raw: unknown) => (raw === null || raw === undefined ? null : Number(raw));
    if (fn.fn === "count_distinct") {
      f.push(num(value));
      const list = row[`v${index}`];
      values.push(Array.isArray(list) ? list.map(String) : null);
    } else if (fn.fn === "avg") {
      f.push([num(value) ?? 0, num(row[`v${index}`]) ?? 0]);
      values.push(null);
    } else if (PERCENTILES[fn.fn] !== undefined) {
      const entries = Array.isArray(value) ? (value as { key: unknown; value: unknown }[]) : [];
      f.push(entries.map((entry) => [Number(entry.key), Number(entry.value)]));
      values.push(null);
    } else {
      f.push(num(value));
      values.push(null);
    }
  });
  return { key, n: Number(row.n), f, values: spec.functions.some((fn) => fn.fn === "count_distinct") ? values : undefined };
}

export interface MergedGroup {
  key: (string | number | null)[];
  /** The key as text: the merge's map key and the tie-break of the response's order. */
  text: string;
  n: number;
  state: unknown[];
  /** count_distinct: the union while every shard sent values; null once one did not. */
  distinct: (Set<string> | null)[];
}

export interface MergedAggregate {
  groups: MergedGroup[];
  overflow: boolean;
}

/**
 * A group key as a map key, unambiguous (strings carry their length): ~5x cheaper than
 * JSON.stringify, which cost a third of a merge of 16 shards' ~1,800 counted groups.
 */
export function groupMapKey(key: readonly (string | number | null)[]): string {
  let text = "";
  for (const part of key) text += typeof part === "string" ? `s${part.length}:${part}` : typeof part === "number" ? `n${part}` : part === null ? "z" : jsonPart(part);
  return text;
}

function jsonPart(part: unknown): string {
  const json = JSON.stringify(part);
  return `j${json.length}:${json}`;
}

/** A group of the merge with nothing added yet. */
export function newMergedGroup(spec: AggregateSpec, key: (string | number | null)[]): MergedGroup {
  return { key, text: JSON.stringify(key), n: 0, state: spec.functions.map(() => undefined), distinct: spec.functions.map((fn) => (fn.fn === "count_distinct" ? new Set<string>() : null)) };
}

/** Adds shard rows into the merge, exactly (percentile sketches bucket by bucket). */
export function mergeAggregateRows(spec: AggregateSpec, shards: readonly { rows: readonly AggregateRow[]; overflow: boolean }[]): MergedAggregate {
  const groups = new Map<string, MergedGroup>();
  let overflow = false;
  for (const shard of shards) {
    overflow ||= shard.overflow;
    for (const row of shard.rows) {
      const mapKey = groupMapKey(row.key);
      let group = groups.get(mapKey);
      if (!group) {
        group = newMergedGroup(spec, row.key);
        groups.set(mapKey, group);
      }
      group.n += row.n;
      if (spec.functions.length === 0) continue;
      spec.functions.forEach((fn, index) => {
        const value = row.f[index];
        const prior = group!.state[index];
        switch (fn.fn) {
          case "count_distinct": {
            group!.state[index] = ((prior as number | undefined) ?? 0) + ((value as number | null) ?? 0);
            const values = row.values?.[index];
            const set = group!.distinct[index];
            if (values && set) for (const item of values) set.add(item);
            else group!.distinct[index] = null;
            break;
          }
          case "min":
          case "max":
          case "sum": {
            if (value === null || value === undefined) break;
            const number = value as number;
            const before = prior as number | undefined;
            group!.state[index] = before === undefined ? number : fn.fn === "min" ? Math.min(before, number) : fn.fn === "max" ? Math.max(before, number) : before + number;
            break;
          }
          case "avg": {
            const [sum, count] = value as [number, number];
            const [priorSum, priorCount] = (prior as [number, number] | undefined) ?? [0, 0];
            group!.state[index] = [priorSum + sum, priorCount + count];
            break;
          }
          default: {
            const sketch = (prior as Map<number, number> | undefined) ?? new Map<number, number>();
            for (const [bucket, count] of value as [number, number][]) sketch.set(bucket, (sketch.get(bucket) ?? 0) + count);
            group!.state[index] = sketch;
          }
        }
      });
    }
  }
  return { groups: [...groups.values()], overflow };
}

/** The value at quantile q of a merged sketch: the bucket's midpoint, within 1% of the true value. */
export function sketchQuantile(sketch: ReadonlyMap<number, number>, q: number): number | null {
  const buckets = [...sketch].map(([key, count]) => ({ value: bucketValue(key), count })).sort((a, b) => a.value - b.value);
  const total = buckets.reduce((sum, bucket) => sum + bucket.count, 0);
  if (total === 0) return null;
  // The rank of the q-quantile among `total` values, 0-based (nearest rank, rounded down).
  const rank = Math.floor(q * (total - 1));
  let seen = 0;
  for (const bucket of buckets) {
    seen += bucket.count;
    if (seen > rank) return bucket.value;
  }
  return buckets[buckets.length - 1].value;
}

function bucketValue(key: number): number {
  if (key === 0) return 0;
  const k = Math.abs(key) - SKETCH_OFFSET;
  // The bucket (gamma^(k-1), gamma^k]: its value estimate with the least relative error.
  const value = (2 * SKETCH_GAMMA ** k) / (SKETCH_GAMMA + 1);
  return key > 0 ? value : -value;
}

/** The API shape: `buckets` always; `aggregations` too in the seed's simple case. */
export function aggregateResponse(spec: AggregateSpec, merged: MergedAggregate): Record<string, unknown> {
  let groups = merged.groups;
  const byCount = (a: MergedGroup, b: MergedGroup) => b.n - a.n || (a.text < b.text ? -1 : 1);
  groups.sort(byCount);
  if (spec.top !== undefined) groups = groups.slice(0, spec.top);
  const timeIndex = spec.groupBy.length;
  if (spec.intervalUs !== undefined) groups.sort((a, b) => (a.key[timeIndex] as number) - (b.key[timeIndex] as number) || byCount(a, b));
  let approximate = false;
  const buckets = groups.map((group) => {
    const out: Record<string, unknown> = {};
    spec.groupBy.forEach((field, index) => (out[fieldName(field)] = group.key[index]));
    if (spec.intervalUs !== undefined) out.time = formatTimestampUs(group.key[timeIndex] as number);
    out.count = group.n;
    spec.functions.forEach((fn, index) => {
      const state = group.state[index];
      let value: unknown = null;
      if (fn.fn === "count_distinct") {
        const set = group.distinct[index];
        if (set) value = set.size;
        else {
          // Some shard had too many values to send: the sum of shard counts, an upper bound.
          value = state ?? 0;
          approximate = true;
        }
      } else if (fn.fn === "avg") {
        const [sum, count] = (state as [number, number] | undefined) ?? [0, 0];
        value = count === 0 ? null : sum / count;
      } else if (PERCENTILES[fn.fn] !== undefined) {
        value = state ? sketchQuantile(state as Map<number, number>, PERCENTILES[fn.fn]!) : null;
      } else value = state ?? null;
      out[functionLabel(fn)] = value;
    });
    return out;
  });
  const response: Record<string, unknown> = {};
  if (isSimpleCount(spec)) {
    const simple: Record<string, number> = {};
    for (const group of groups) simple[String(group.key[0])] = group.n;
    response.aggregations = simple;
    response.group_by = fieldName(spec.groupBy[0]);
  }
  response.buckets = buckets;
  response.overflow = merged.overflow;
  if (approximate) response.approximate = true;
  return response;
}
