// Loading one flush's NDJSON rows into new memtable parts (a DuckDB table per load).
// When DuckDB refuses the batch, it is loaded in halves down to the single lines it
// refuses, which are reported: one bad row never costs its neighbours their place.

import type { DuckDBConnection } from "@duckdb/node-api";
import { writeFile } from "node:fs/promises";
import { describe } from "../actors/supervisor.ts";
import { execute } from "./duckdb.ts";
import { FLUSH_OBJECT_BYTES_MAX } from "./limits.ts";
import { flushFilePath, sqlPathLiteral, type DataPaths } from "./paths.ts";
import { COLUMN_NAMES, NDJSON_COLUMNS_SPEC } from "./schema.ts";

let tableCounter = 0;

export interface MemtableLoad {
  paths: DataPaths;
  shard: number;
  /** Lines of the NDJSON: the rows inserted when DuckDB takes them all. */
  rows: number;
  /** Called with rows DuckDB refused (after isolating them), so nothing vanishes silently. */
  onRejectedRows?: (rows: { line: string; error: string }[]) => void;
}

/** Where each line of NDJSON starts, then its end: line i is bytes [starts[i], starts[i + 1]). */
function lineStarts(ndjson: Uint8Array): number[] {
  const starts = [0];
  for (let index = ndjson.indexOf(0x0a); index >= 0; index = ndjson.indexOf(0x0a, index + 1)) starts.push(index + 1);
  if (starts[starts.length - 1] !== ndjson.length) starts.push(ndjson.length);
  return starts;
}

/**
 * Bulk-loads NDJSON rows into new tables on `connection`; if DuckDB refuses them,
 * bisects by line to isolate and report the bad rows. Resolves with the tables made
 * (not yet part of any memtable) and the rows they hold.
 */
export async function loadMemtableParts(connection: DuckDBConnection, ndjson: Uint8Array, options: MemtableLoad): Promise<{ parts: string[]; inserted: number }> {
  const path = flushFilePath(options.paths, options.shard);
  const parts: string[] = [];
  const load = async (part: Uint8Array): Promise<void> => {
    await writeFile(path, part);
    const name = `mem_s${options.shard}_${++tableCounter}`;
    await execute(
      connection,
      `CREATE TABLE ${name} AS SELECT ${COLUMN_NAMES} FROM read_ndjson(${sqlPathLiteral(options.paths, path)}, columns=${NDJSON_COLUMNS_SPEC}, format='newline_delimited', maximum_object_size=${FLUSH_OBJECT_BYTES_MAX})`,
    );
    parts.push(name);
  };
  try {
    await load(ndjson);
    return { parts, inserted: options.rows };
  } catch (error) {
    const starts = lineStarts(ndjson);
    // Loads lines [from, to) in halves (each a contiguous slice of `ndjson`) down to the single lines DuckDB refuses, which are reported.
    const bisect = async (from: number, to: number, refusal: unknown): Promise<number> => {
      if (to - from === 1) {
        options.onRejectedRows?.([{ line: new TextDecoder().decode(ndjson.subarray(starts[from], starts[to])), error: describe(refusal) }]);
        return 0;
      }
      const middle = from + ((to - from) >>> 1);
      let inserted = 0;
      for (const [start, end] of [
        [from, middle],
        [middle, to],
      ]) {
        try {
          await load(ndjson.subarray(starts[start], starts[end]));
          inserted += end - start;
        } catch (halfError) {
          inserted += await bisect(start, end, halfError);
        }
      }
      return inserted;
    };
    return { parts, inserted: await bisect(0, starts.length - 1, error) };
  }
}
