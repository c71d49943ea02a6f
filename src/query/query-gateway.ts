// QueryGateway: parses a query, scatters it to every shard over NATS request/reply,
// and merges. A shard that does not answer makes the result partial, never silently
// short; a busy shard makes it a 503 with Retry-After.

import type { NatsConnection } from "@nats-io/transport-node";
import hdr from "hdr-histogram-js";
import { describe } from "../actors/supervisor.ts";
import { HttpError } from "../http/errors.ts";
import { QUERY_PROTOCOL_VERSION, type ShardAggregateReply, type ShardQueryReply, type ShardQueryRequest, type ShardSearchReply } from "../protocol/query-messages.ts";
import { querySubject } from "../protocol/subjects.ts";
import type { StoredEvent } from "../protocol/event.ts";
import { encodeCursor, type GroupByField, type SearchFilter, type SearchRequest } from "./filter.ts";
import { GATEWAY_QUERIES_IN_FLIGHT_MAX, SHARD_QUERY_TIMEOUT_MS } from "./limits.ts";
import { mergeAggregates, mergeSearch } from "./merge.ts";
import { formatTimestampUs } from "../ingest/timestamp.ts";

export interface QueryGatewayOptions {
  nc: NatsConnection;
  shards: number;
  timeoutMs?: number;
}

interface Scatter<R> {
  replies: R[];
  missing: { shard: number; reason: string }[];
  segmentsTotal: number;
  segmentsSkipped: number;
}

/** The API shape of an event. */
export function eventToJson(event: StoredEvent): Record<string, unknown> {
  let metadata: unknown = event.metadata;
  try {
    metadata = JSON.parse(event.metadata);
  } catch {
    // Stored metadata is validated at ingest; anything else is returned as text rather than dropped.
  }
  return {
    id: event.id,
    timestamp: formatTimestampUs(event.timestampUs),
    ingest_ts: formatTimestampUs(event.ingestTs),
    tenant: event.tenant,
    level: event.level,
    service: event.service,
    hostname: event.hostname,
    trace_id: event.traceId,
    span_id: event.spanId,
    message: event.message,
    metadata,
  };
}

export class QueryGateway {
  readonly name = "query-gateway";
  private inFlight = 0;
  private readonly latency = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
  private counters = { queries: 0, partial: 0, busy: 0, overloaded: 0 };

  constructor(private readonly options: QueryGatewayOptions) {}

  snapshot(): Record<string, unknown> {
    return {
      name: this.name,
      inFlight: this.inFlight,
      ...this.counters,
      latencyMs: { p50: this.latency.getValueAtPercentile(50) / 1000, p99: this.latency.getValueAtPercentile(99) / 1000, count: this.latency.totalCount },
    };
  }

  async search(tenant: string, request: SearchRequest): Promise<Record<string, unknown>> {
    return this.timed(async () => {
      const started = performance.now();
      const scatter = await this.scatter<ShardSearchReply>({ v: QUERY_PROTOCOL_VERSION, kind: "search", tenant, filter: request.filter, limit: request.limit, order: request.order, cursor: request.cursor });
      const merged = mergeSearch(scatter.replies, request.limit, request.order);
      return {
        logs: merged.rows.map(eventToJson),
        next_cursor: merged.nextCursor ? encodeCursor(merged.nextCursor, request.order) : null,
        ...this.footer(scatter, started),
      };
    });
  }

  async aggregate(tenant: string, filter: SearchFilter, groupBy: GroupByField): Promise<Record<string, unknown>> {
    return this.timed(async () => {
      const started = performance.now();
      const scatter = await this.scatter<ShardAggregateReply>({ v: QUERY_PROTOCOL_VERSION, kind: "aggregate", tenant, filter, groupBy });
      const merged = mergeAggregates(scatter.replies);
      return { aggregations: merged.groups, group_by: groupBy, overflow: merged.overflow, ...this.footer(scatter, started) };
    });
  }

  private footer(scatter: Scatter<unknown>, started: number): Record<string, unknown> {
    return {
      took_ms: Math.round((performance.now() - started) * 100) / 100,
      segments_total: scatter.segmentsTotal,
      segments_skipped: scatter.segmentsSkipped,
      partial: scatter.missing.length > 0,
      ...(scatter.missing.length > 0 ? { missing_shards: scatter.missing } : {}),
    };
  }

  private async timed<T>(work: () => Promise<T>): Promise<T> {
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

  private async scatter<R extends ShardSearchReply | ShardAggregateReply>(request: ShardQueryRequest): Promise<Scatter<R>> {
    const payload = JSON.stringify(request);
    const timeout = this.options.timeoutMs ?? SHARD_QUERY_TIMEOUT_MS;
    const results = await Promise.all(
      Array.from({ length: this.options.shards }, async (_, shard): Promise<ShardQueryReply | { ok: false; shard: number; code: "unreachable"; error: string }> => {
        try {
          const message = await this.options.nc.request(querySubject(shard), payload, { timeout });
          return message.json<ShardQueryReply>();
        } catch (error) {
          return { ok: false, shard, code: "unreachable", error: describe(error) };
        }
      }),
    );
    const scatter: Scatter<R> = { replies: [], missing: [], segmentsTotal: 0, segmentsSkipped: 0 };
    for (const result of results) {
      if (result.ok) {
        scatter.replies.push(result as R);
        scatter.segmentsTotal += result.segmentsTotal;
        scatter.segmentsSkipped += result.segmentsSkipped;
      } else if (result.code === "busy") {
        this.counters.busy++;
        throw new HttpError(503, "shard_busy", `shard ${result.shard} is busy: ${result.error}`, 1);
      } else if (result.code === "bad_request") {
        throw new HttpError(400, "bad_query", result.error);
      } else {
        scatter.missing.push({ shard: result.shard, reason: `${result.code}: ${result.error}` });
      }
    }
    if (scatter.missing.length > 0) this.counters.partial++;
    return scatter;
  }
}
