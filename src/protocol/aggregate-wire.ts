// An aggregate reply's rows as they cross NATS: by column, each distinct key string
// sent once. "count by service and level" is ~1,800 rows a shard; as an array of row
// objects (~93 KB of JSON) its JSON.stringify, the publish and the gateway's parse
// took most of a counted answer's time on the node's one JavaScript thread. Pure.

import type { AggregateRow } from "../query/aggregate.ts";
import type { ShardAggregateReplyWire, ShardQueryReply } from "./query-messages.ts";

/** One group_by field's values, a value per row: indexes into `strings` (-1: null) when every value is a string or null, else the values. */
export type WireKeyColumn = { s: number[] } | { v: (string | number | null)[] };

export interface AggregateRowsWire {
  /** Each distinct string of the key columns, once. */
  strings: string[];
  /** Per group_by field. */
  keys: WireKeyColumn[];
  /** Per row: its count. */
  n: number[];
  /** Per row: its function states (AggregateRow.f); absent when no row has any. */
  f?: unknown[][];
  /** Per row: AggregateRow.values, null where a row has none; absent when no row has any. */
  values?: ((string[] | null)[] | null)[];
}

export function rowsToWire(rows: readonly AggregateRow[]): AggregateRowsWire {
  const width = rows.length > 0 ? rows[0].key.length : 0;
  const strings: string[] = [];
  const indexOf = new Map<string, number>();
  const keys: WireKeyColumn[] = [];
  for (let column = 0; column < width; column++) {
    const allStrings = rows.every((row) => row.key[column] === null || typeof row.key[column] === "string");
    if (!allStrings) {
      keys.push({ v: rows.map((row) => row.key[column]) });
      continue;
    }
    keys.push({
      s: rows.map((row) => {
        const value = row.key[column] as string | null;
        if (value === null) return -1;
        let index = indexOf.get(value);
        if (index === undefined) indexOf.set(value, (index = strings.push(value) - 1));
        return index;
      }),
    });
  }
  const wire: AggregateRowsWire = { strings, keys, n: rows.map((row) => row.n) };
  if (rows.some((row) => row.f.length > 0)) wire.f = rows.map((row) => row.f);
  if (rows.some((row) => row.values !== undefined)) wire.values = rows.map((row) => row.values ?? null);
  return wire;
}

/**
 * Throws on a table that is not one rowsToWire makes (a peer of another version, or a
 * broken one): columns of other lengths than its rows, a string it lacks, a count that
 * is not a number. Its reply is then counted as missing, not merged into a wrong answer.
 */
export function checkTable(wire: AggregateRowsWire): void {
  if (!Array.isArray(wire.n) || !Array.isArray(wire.keys) || !Array.isArray(wire.strings)) throw new Error("aggregate reply: a table needs strings, keys and n arrays");
  const count = wire.n.length;
  for (const n of wire.n) if (typeof n !== "number" || !Number.isFinite(n)) throw new Error(`aggregate reply: count ${JSON.stringify(n)} is not a number`);
  for (const column of wire.keys) {
    const values = column && ("s" in column ? column.s : "v" in column ? column.v : undefined);
    if (!Array.isArray(values)) throw new Error("aggregate reply: a key column is neither strings nor values");
    if (values.length !== count) throw new Error(`aggregate reply: a key column of ${values.length} values for ${count} rows`);
    if (!("s" in column)) continue;
    for (const index of column.s) {
      if (index !== -1 && !(Number.isInteger(index) && index >= 0 && index < wire.strings.length)) throw new Error(`aggregate reply: string ${index} of ${wire.strings.length}`);
    }
  }
  if ((wire.f && wire.f.length !== count) || (wire.values && wire.values.length !== count)) throw new Error(`aggregate reply: function states for other than its ${count} rows`);
}

/** The rows of a table checkTable passed (shardTableReplyOf's). */
export function rowsOfTable(wire: AggregateRowsWire): AggregateRow[] {
  const count = wire.n.length;
  const rows: AggregateRow[] = new Array(count);
  for (let row = 0; row < count; row++) {
    const key = wire.keys.map((column) => {
      if ("v" in column) return column.v[row];
      const index = column.s[row];
      return index === -1 ? null : wire.strings[index];
    });
    const values = wire.values?.[row];
    rows[row] = values ? { key, n: wire.n[row], f: wire.f?.[row] ?? [], values } : { key, n: wire.n[row], f: wire.f?.[row] ?? [] };
  }
  return rows;
}

/** A shard's reply as JSON text: an aggregate's rows as rowsToWire's table. */
export function shardReplyText(reply: ShardQueryReply): string {
  if (!reply.ok || reply.kind !== "aggregate") return JSON.stringify(reply);
  const { rows, ...rest } = reply;
  const wire: ShardAggregateReplyWire = { ...rest, table: rowsToWire(rows) };
  return JSON.stringify(wire);
}

/**
 * A shard's reply from its parsed JSON, an aggregate's table kept as it came (checked)
 * for the gateway to merge by column (query/table-merge.ts).
 */
export function shardTableReplyOf(parsed: ShardQueryReply | ShardAggregateReplyWire): Exclude<ShardQueryReply, { kind: "aggregate" }> | ShardAggregateReplyWire {
  if (!parsed.ok || parsed.kind !== "aggregate") return parsed as Exclude<ShardQueryReply, { kind: "aggregate" }>;
  if (!("table" in parsed) || typeof parsed.table !== "object" || parsed.table === null) throw new Error("aggregate reply: no table");
  checkTable(parsed.table);
  return parsed;
}
