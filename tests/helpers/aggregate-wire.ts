// A shard's reply as the tests read it: an aggregate's table back to rows (the gateway
// keeps tables and merges them by column: src/query/table-merge.ts).

import { checkTable, rowsOfTable, shardTableReplyOf, type AggregateRowsWire } from "../../src/protocol/aggregate-wire.ts";
import type { ShardAggregateReplyWire, ShardQueryReply } from "../../src/protocol/query-messages.ts";
import type { AggregateRow } from "../../src/query/aggregate.ts";

/** The rows rowsToWire sent; throws as checkTable does. */
export function rowsFromWire(wire: AggregateRowsWire): AggregateRow[] {
  checkTable(wire);
  return rowsOfTable(wire);
}

export function shardReplyOf(parsed: ShardQueryReply | ShardAggregateReplyWire): ShardQueryReply {
  const reply = shardTableReplyOf(parsed);
  if (!reply.ok || reply.kind !== "aggregate") return reply;
  const { table, ...rest } = reply;
  return { ...rest, rows: rowsOfTable(table) };
}
