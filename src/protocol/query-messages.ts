// The request/reply messages of `sluice.query.<shard>` (JSON, version 1). The query
// gateway scatters these over NATS even on one node, so a cluster only distributes them.

import type { Cursor, GroupByField, SearchFilter, SearchOrder } from "../query/filter.ts";
import type { StoredEvent } from "./event.ts";

export const QUERY_PROTOCOL_VERSION = 1;

export interface ShardSearchRequest {
  v: number;
  kind: "search";
  tenant: string;
  filter: SearchFilter;
  limit: number;
  /** Absent: newest first. */
  order?: SearchOrder;
  cursor?: Cursor;
}

export interface ShardAggregateRequest {
  v: number;
  kind: "aggregate";
  tenant: string;
  filter: SearchFilter;
  groupBy: GroupByField;
}

export type ShardQueryRequest = ShardSearchRequest | ShardAggregateRequest;

export interface ShardReplyStats {
  shard: number;
  tookMs: number;
  segmentsTotal: number;
  segmentsSkipped: number;
}

export interface ShardSearchReply extends ShardReplyStats {
  ok: true;
  kind: "search";
  rows: StoredEvent[];
  /** The reply hit its byte budget: the shard may hold more rows after the last one sent. */
  truncated: boolean;
}

export interface ShardAggregateReply extends ShardReplyStats {
  ok: true;
  kind: "aggregate";
  groups: [string, number][];
  /** More distinct keys than AGGREGATE_GROUPS_MAX. */
  overflow: boolean;
}

export interface ShardErrorReply {
  ok: false;
  shard: number;
  code: "busy" | "bad_request" | "failed" | "stopping";
  error: string;
}

export type ShardQueryReply = ShardSearchReply | ShardAggregateReply | ShardErrorReply;
