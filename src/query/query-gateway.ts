// QueryGateway: parses a query, scatters it to every shard over NATS request/reply,
// and merges. A shard that does not answer makes the result partial, never silently
// short; a busy shard makes it a 503 with Retry-After.

import type { NatsConnection } from "@nats-io/transport-node";
import hdr from "hdr-histogram-js";
import { describe } from "../actors/supervisor.ts";
import { HttpError } from "../http/errors.ts";
import { QUERY_PROTOCOL_VERSION, type ShardAggregateReplyWire, type ShardAggregateRequest, type ShardQueryReply, type ShardSearchReply, type ShardSearchRequest } from "../protocol/query-messages.ts";
import { QUERY_CANCEL_SUBJECT, querySubject } from "../protocol/subjects.ts";
import { shardTableReplyOf } from "../protocol/aggregate-wire.ts";
import { aggregateResponse, type AggregateSpec } from "./aggregate.ts";
import { mergeAggregateTables } from "./table-merge.ts";
import { encodeCursor, QueryError, type ApiField, type Cursor, type SearchFilter, type SearchOrder, type SearchRequest } from "./filter.ts";
import { CONTEXT_WINDOW_US, GATEWAY_QUERIES_IN_FLIGHT_MAX, SHARD_REPLY_GRACE_MS } from "./limits.ts";
import { keysFirst, searchInWindows, wholeRowsAsked } from "./keys-first.ts";
import { mergeSearch, type MergedSearch } from "./merge.ts";
import { parseEventId } from "../storage/schema.ts";
import { columnsFor, eventToJson } from "./event-json.ts";

/** A shard request without its envelope, which scatter adds. */
type ScatterRequest = Omit<ShardSearchRequest, "v" | "id" | "timeoutMs"> | Omit<ShardAggregateRequest, "v" | "id" | "timeoutMs">;
/** A shard's reply, or why none came; an aggregate's rows stay the table they came as (mergeAggregateTables). */
type ScatterResult = Exclude<ShardQueryReply, { kind: "aggregate" }> | ShardAggregateReplyWire | { ok: false; shard: number; code: "unreachable"; error: string };

export interface QueryGatewayOptions {
  nc: NatsConnection;
  shards: number;
}

/** How long a query may take, and the signal that says its client went away. */
export interface QueryOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

interface Scatter<R> {
  replies: R[];
  missing: { shard: number; reason: string }[];
  segmentsTotal: number;
  segmentsSkipped: number;
  rowsScanned: number;
}

/** A windowed search's figures as one (replies: the whole-row read's, else the last window's): rows scanned by all steps, segments as the widest window saw them, every shard any step missed. */
function combineSteps<R>(windows: readonly Scatter<R>[], rows: Scatter<R> | undefined): Scatter<R> {
  const widest = windows[windows.length - 1];
  const steps = rows ? [...windows, rows] : windows;
  const missing: Scatter<R>["missing"] = [];
  for (const step of steps) for (const gone of step.missing) if (!missing.some((seen) => seen.shard === gone.shard)) missing.push(gone);
  return { replies: (rows ?? widest).replies, missing, segmentsTotal: widest.segmentsTotal, segmentsSkipped: widest.segmentsSkipped, rowsScanned: steps.reduce((sum, step) => sum + step.rowsScanned, 0) };
}

/** The query's client went away: nothing to answer. */
export class ClientGoneError extends Error {}

/** One page of a search, as the export and context endpoints read them. */
export interface SearchPage {
  merged: MergedSearch;
  scatter: Scatter<ShardSearchReply>;
}

export class QueryGateway {
  readonly name = "query-gateway";
  private inFlight = 0;
  private readonly latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  private counters = { queries: 0, partial: 0, busy: 0, overloaded: 0, timedOut: 0, cancelled: 0 };

  constructor(private readonly options: QueryGatewayOptions) {}

  snapshot(): Record<string, unknown> {
    return {
      name: this.name,
      inFlight: this.inFlight,
      ...this.counters,
      latencyMs: { p50: this.latency.getValueAtPercentile(50) / 1000, p99: this.latency.getValueAtPercentile(99) / 1000, count: this.latency.totalCount },
    };
  }

  async search(tenant: string, request: SearchRequest, options: QueryOptions): Promise<Record<string, unknown>> {
    return this.timed(async () => {
      const started = performance.now();
      const page = await this.searchPage(tenant, request, options);
      return {
        logs: page.merged.rows.map((row) => eventToJson(row, request.fields)),
        next_cursor: page.merged.nextCursor ? encodeCursor(page.merged.nextCursor, request.order) : null,
        ...this.footer(page.scatter, started),
      };
    });
  }

  /**
   * One merged page, outside the in-flight count (export holds its slot for the whole
   * stream). A broad search is asked in widening time windows, by its ordering columns
   * only, until the page is full, then its rows are read whole, unless the shards sent
   * them whole already (keys-first.ts).
   */
  async searchPage(tenant: string, request: SearchRequest, options: QueryOptions): Promise<SearchPage> {
    const order = request.order ?? "newest";
    const search = { kind: "search", tenant, filter: request.filter, limit: request.limit, order: request.order, cursor: request.cursor } as const;
    if (!keysFirst(request.filter)) {
      const scatter = await this.scatter<ShardSearchReply>({ ...search, columns: columnsFor(request.fields) }, options);
      return { merged: mergeSearch(scatter.replies, request.limit, order), scatter };
    }
    // One time budget for all the steps, not one each.
    const deadline = performance.now() + options.timeoutMs;
    const ask = (filter: SearchFilter, keysOnly: boolean) => {
      const left = Math.floor(deadline - performance.now());
      if (left < 1) throw new HttpError(504, "query_timeout", `the query ran past its ${options.timeoutMs} ms budget; narrow the time range or the query, or raise timeout_ms`);
      const columns = columnsFor(request.fields);
      const whole = keysOnly ? { wholeFirst: wholeRowsAsked(request.limit, this.options.shards), wholeColumns: columns } : {};
      return this.scatter<ShardSearchReply>({ ...search, filter, columns: keysOnly ? [] : columns, ...whole }, { ...options, timeoutMs: left });
    };
    const { merged, windows, rows } = await searchInWindows(request, Date.now() * 1000, ask);
    return { merged, scatter: combineSteps(windows, rows) };
  }

  /** `counters: false` scans even where the per-minute counters could answer. */
  async aggregate(tenant: string, filter: SearchFilter, spec: AggregateSpec, options: QueryOptions & { counters?: boolean }): Promise<Record<string, unknown>> {
    return this.timed(async () => {
      const started = performance.now();
      const scatter = await this.scatter<ShardAggregateReplyWire>({ kind: "aggregate", tenant, filter, spec, counters: options.counters }, options);
      const fromCounters = scatter.replies.length > 0 && scatter.replies.every((reply) => reply.fromCounters === true);
      return { ...aggregateResponse(spec, mergeAggregateTables(spec, scatter.replies)), from_counters: fromCounters, ...this.footer(scatter, started) };
    });
  }

  /**
   * The events around one event in its stream (same service and host), as Kibana's
   * surrounding documents and Loki's context: up to `before` older and `after` newer,
   * within CONTEXT_WINDOW_US of it, oldest first.
   */
  async context(tenant: string, id: string, before: number, after: number, fields: ApiField[] | undefined, options: QueryOptions): Promise<Record<string, unknown>> {
    return this.timed(async () => {
      const started = performance.now();
      if (!parseEventId(id)) throw new QueryError("bad_parameter", `id: ${JSON.stringify(id.slice(0, 64))} is not an event id`);
      const none: SearchFilter = { services: [], levels: [], hostnames: [], traceIds: [], query: null };
      const found = await this.searchPage(tenant, { filter: { ...none, eventIds: [id] }, limit: 1, order: "newest" }, options);
      const anchor = found.merged.rows[0];
      if (!anchor) {
        if (found.scatter.missing.length > 0) throw new HttpError(503, "shards_unreachable", `event ${id} was not found, and shards ${found.scatter.missing.map((shard) => shard.shard).join(", ")} did not answer`, 1);
        throw new HttpError(404, "not_found", `no event ${id} for this tenant`);
      }
      const stream: SearchFilter = { ...none, services: [anchor.service], hostnames: [anchor.hostname], fromUs: anchor.timestampUs - CONTEXT_WINDOW_US, toUs: anchor.timestampUs + CONTEXT_WINDOW_US + 1 };
      const cursor: Cursor = { ts: anchor.timestampUs, id: anchor.id };
      const side = (order: SearchOrder, limit: number) =>
        limit === 0 ? Promise.resolve(undefined) : this.searchPage(tenant, { filter: stream, limit, order, cursor, fields: undefined }, options);
      const [older, newer] = await Promise.all([side("newest", before), side("oldest", after)]);
      const scatters = [found.scatter, older?.scatter, newer?.scatter].filter((scatter): scatter is Scatter<ShardSearchReply> => scatter !== undefined);
      const combined: Scatter<unknown> = {
        replies: [],
        missing: scatters.flatMap((scatter) => scatter.missing),
        segmentsTotal: Math.max(...scatters.map((scatter) => scatter.segmentsTotal)),
        segmentsSkipped: Math.min(...scatters.map((scatter) => scatter.segmentsSkipped)),
        rowsScanned: scatters.reduce((sum, scatter) => sum + scatter.rowsScanned, 0),
      };
      return {
        anchor: eventToJson(anchor, fields),
        before: (older?.merged.rows ?? []).reverse().map((row) => eventToJson(row, fields)),
        after: (newer?.merged.rows ?? []).map((row) => eventToJson(row, fields)),
        ...this.footer(combined, started),
      };
    });
  }

  footer(scatter: Scatter<unknown>, started: number): Record<string, unknown> {
    return {
      took_ms: Math.round((performance.now() - started) * 100) / 100,
      rows_scanned: scatter.rowsScanned,
      segments_total: scatter.segmentsTotal,
      segments_skipped: scatter.segmentsSkipped,
      partial: scatter.missing.length > 0,
      ...(scatter.missing.length > 0 ? { missing_shards: scatter.missing } : {}),
    };
  }

  /** Counts a query in flight for its duration; past the bound, 503 with Retry-After. */
  async timed<T>(work: () => Promise<T>): Promise<T> {
    if (this.inFlight >= GATEWAY_QUERIES_IN_FLIGHT_MAX) {
      this.counters.overloaded++;
      throw new HttpError(503, "too_many_queries", `${GATEWAY_QUERIES_IN_FLIGHT_MAX} queries are in flight`, 1);
    }
    this.inFlight++;
    this.counters.queries++;
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.inFlight--;
      this.latency.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)));
    }
  }

  /** Sends `request` to every shard with the protocol envelope (version, a fresh id, the time budget) and gathers the replies. */
  private async scatter<R extends ShardSearchReply | ShardAggregateReplyWire>(request: ScatterRequest, options: QueryOptions): Promise<Scatter<R>> {
    const id = crypto.randomUUID();
    const payload = JSON.stringify({ ...request, v: QUERY_PROTOCOL_VERSION, id, timeoutMs: options.timeoutMs });
    const { signal } = options;
    if (signal?.aborted) throw new ClientGoneError("the client went away");
    let onAbort: (() => void) | undefined;
    const gone = new Promise<never>((_, reject) => {
      onAbort = () => {
        this.counters.cancelled++;
        this.options.nc.publish(QUERY_CANCEL_SUBJECT, JSON.stringify({ id }));
        reject(new ClientGoneError("the client went away"));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    gone.catch(() => undefined);
    const timeout = options.timeoutMs + SHARD_REPLY_GRACE_MS;
    let results: ScatterResult[];
    try {
      results = await Promise.race([
        gone,
        Promise.all(
          Array.from({ length: this.options.shards }, async (_, shard): Promise<ScatterResult> => {
            try {
              const message = await this.options.nc.request(querySubject(shard), payload, { timeout });
              return shardTableReplyOf(message.json<ShardQueryReply | ShardAggregateReplyWire>());
            } catch (error) {
              return { ok: false, shard, code: "unreachable", error: describe(error) };
            }
          }),
        ),
      ]);
    } finally {
      if (onAbort) signal?.removeEventListener("abort", onAbort);
    }
    const scatter: Scatter<R> = { replies: [], missing: [], segmentsTotal: 0, segmentsSkipped: 0, rowsScanned: 0 };
    let timedOut = 0;
    for (const result of results) {
      if (result.ok) {
        scatter.replies.push(result as R);
        scatter.segmentsTotal += result.segmentsTotal;
        scatter.segmentsSkipped += result.segmentsSkipped;
        scatter.rowsScanned += result.rowsScanned;
      } else if (result.code === "busy") {
        this.counters.busy++;
        throw new HttpError(503, "shard_busy", `shard ${result.shard} is busy: ${result.error}`, 1);
      } else if (result.code === "bad_request") {
        throw new HttpError(400, "bad_query", result.error);
      } else {
        if (result.code === "timeout") timedOut++;
        scatter.missing.push({ shard: result.shard, reason: `${result.code}: ${result.error}` });
      }
    }
    if (timedOut > 0) this.counters.timedOut++;
    if (timedOut === this.options.shards) {
      throw new HttpError(504, "query_timeout", `the query ran past its ${options.timeoutMs} ms budget on every shard; narrow the time range or the query, or raise timeout_ms`);
    }
    if (scatter.missing.length > 0) this.counters.partial++;
    return scatter;
  }
}
