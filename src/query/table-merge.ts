// The gateway's merge of shards' aggregate replies as they came: tables by column
// (protocol/aggregate-wire.ts). A count-only aggregate is added up by key ids, without
// a row object or a text key per shard row: for "count by service and level", 16
// shards' ~1,880 groups each took ~4 ms to turn into rows and ~8 ms to merge as rows
// on the node's one JavaScript thread, most of a counted answer's time. Other
// functions (their states merge value by value) go through mergeAggregateRows. Pure.

import { rowsOfTable, type AggregateRowsWire } from "../protocol/aggregate-wire.ts";
import { mergeAggregateRows, newMergedGroup, type AggregateSpec, type MergedAggregate, type MergedGroup } from "./aggregate.ts";

/** One shard's reply as the merge needs it; its table already checked (checkTable). */
export interface TableReply {
  table: AggregateRowsWire;
  overflow: boolean;
}

type KeyValue = string | number | null;

/** Gives every key value one small id, whatever its shard; values of different types stay apart ("1" is not 1). */
class KeyIds {
  /** values[id]; id 0 is null. */
  readonly values: KeyValue[] = [null];
  private readonly strings = new Map<string, number>();
  private readonly numbers = new Map<number, number>();
  /** Anything else a peer sent, by its JSON (groupMapKey keeps such values apart the same way). */
  private readonly others = new Map<string, number>();

  of(value: KeyValue): number {
    if (value === null) return 0;
    if (typeof value === "string") return this.idIn(this.strings, value, value);
    if (typeof value === "number") return this.idIn(this.numbers, value, value);
    return this.idIn(this.others, JSON.stringify(value), value);
  }

  private idIn<K>(ids: Map<K, number>, key: K, value: KeyValue): number {
    let id = ids.get(key);
    if (id === undefined) {
      id = this.values.push(value) - 1;
      ids.set(key, id);
    }
    return id;
  }
}

/** Every row's key as ids, one Int32Array per key column. */
function idColumns(table: AggregateRowsWire, ids: KeyIds): Int32Array[] {
  const count = table.n.length;
  const ofString = Int32Array.from(table.strings, (text) => ids.of(text));
  return table.keys.map((column) => {
    const out = new Int32Array(count);
    if ("s" in column) for (let row = 0; row < count; row++) out[row] = column.s[row] === -1 ? 0 : ofString[column.s[row]];
    else for (let row = 0; row < count; row++) out[row] = ids.of(column.v[row]);
    return out;
  });
}

/** The shards' groups added up: mergeAggregateRows' result, from the tables as they came (checked: checkTable). */
export function mergeAggregateTables(spec: AggregateSpec, replies: readonly TableReply[]): MergedAggregate {
  // A shard with no groups sends no key columns at all (rowsToWire([])): it adds nothing but its overflow.
  const filled = replies.filter((reply) => reply.table.n.length > 0);
  const overflowed = replies.some((reply) => reply.overflow);
  const width = filled[0]?.table.keys.length ?? 0;
  // Function states, and keys of other widths (a peer of another version), merge as rows.
  if (spec.functions.length > 0 || filled.some((reply) => reply.table.keys.length !== width)) {
    return mergeAggregateRows(
      spec,
      replies.map((reply) => ({ rows: rowsOfTable(reply.table), overflow: reply.overflow })),
    );
  }
  const ids = new KeyIds();
  const columnsOf = filled.map((reply) => idColumns(reply.table, ids));
  const radix = ids.values.length;
  // A key's ids as one number where they fit in a double exactly, else as text.
  const numeric = radix ** width <= Number.MAX_SAFE_INTEGER;
  // In first-seen order, as mergeAggregateRows gives them.
  const groupOf = new Map<number | string, MergedGroup>();
  filled.forEach((reply, at) => {
    const columns = columnsOf[at];
    const counts = reply.table.n;
    for (let row = 0; row < counts.length; row++) {
      let mapKey: number | string = numeric ? 0 : "";
      if (numeric) for (const column of columns) mapKey = (mapKey as number) * radix + column[row];
      else for (const column of columns) mapKey += `${column[row]},`;
      let group = groupOf.get(mapKey);
      if (!group) {
        group = newMergedGroup(spec, columns.map((column) => ids.values[column[row]]));
        groupOf.set(mapKey, group);
      }
      group.n += counts[row];
    }
  });
  return { groups: [...groupOf.values()], overflow: overflowed };
}
