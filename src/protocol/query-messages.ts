// The request/reply messages of `sluice.query.<shard>` (JSON, QUERY_PROTOCOL_VERSION). The query
// gateway scatters these over NATS even on one node, so a cluster only distributes them.

import type { AggregateRow, AggregateSpec } from "../query/aggregate.ts";
import type { AggregateRowsWire } from "./aggregate-wire.ts";
import type { Cursor, SearchFilter, SearchOrder } from "../query/filter.ts";
import type { StoredEvent } from "./event.ts";

/** 3: an aggregate reply's rows travel as a table by column (query/aggregate-wire.ts). */
export const QUERY_PROTOCOL_VERSION = 3;

/** What every shard request carries: who asks, and how long the shard may work on it. */
interface ShardRequestBase {
  v: number;
  /** Names the query for `sluice.query.cancel` (the client went away). */
  id: string;
  /** The shard interrupts its DuckDB work after this long and answers `timeout`. */
  timeoutMs: number;
  tenant: string;
}

export interface ShardSearchRequest extends ShardRequestBase {
  kind: "search";
  filter: SearchFilter;
  limit: number;
  /** Absent: newest first. */
  order?: SearchOrder;
  cursor?: Cursor;
  /** Columns to read besides the ones ordering needs; absent: all. */
  columns?: string[];
  /**
   * With `columns: []` (a broad search's window, by the ordering columns): the first
   * this many rows may come whole, with `wholeColumns` (absent: all), where the shard
   * holds them in memory and reads them cheaply (ShardSearchReply.wholeRows).
   */
  wholeFirst?: number;
  wholeColumns?: string[];
}

export interface ShardAggregateRequest extends ShardRequestBase {
  kind: "aggregate";
  filter: SearchFilter;
  spec: AggregateSpec;
  /** false: scan even where the per-minute counters could answer (to check them). */
  counters?: boolean;
}

/** Published on `sluice.query.cancel`: stop work on this query. */
export interface QueryCancel {
  id: string;
}

export type ShardQueryRequest = ShardSearchRequest | ShardAggregateRequest;

export interface ShardReplyStats {
  shard: number;
  tookMs: number;
  segmentsTotal: number;
  segmentsSkipped: number;
  /** Rows in the memtables and segments the shard read (after skipping): an upper bound of rows scanned. */
  rowsScanned: number;
}

export interface ShardSearchReply extends ShardReplyStats {
  ok: true;
  kind: "search";
  rows: StoredEvent[];
  /** The reply hit its byte budget: the shard may hold more rows after the last one sent. */
  truncated: boolean;
  /** Its first this many rows are whole (asked by wholeFirst); absent: none. */
  wholeRows?: number;
}

export interface ShardAggregateReply extends ShardReplyStats {
  ok: true;
  kind: "aggregate";
  rows: AggregateRow[];
  /** More groups than AGGREGATE_GROUPS_MAX: the reply holds the largest. */
  overflow: boolean;
  /** Answered from the per-minute counters (and a scan of the partial minutes at the edges). */
  fromCounters?: boolean;
}

/** ShardAggregateReply as it is sent: its rows as a table by column. */
export type ShardAggregateReplyWire = Omit<ShardAggregateReply, "rows"> & { table: AggregateRowsWire };

export interface ShardErrorReply {
  ok: false;
  shard: number;
  code: "busy" | "bad_request" | "failed" | "stopping" | "timeout" | "cancelled";
  error: string;
}

export type ShardQueryReply = ShardSearchReply | ShardAggregateReply | ShardErrorReply;
