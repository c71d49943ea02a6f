// Building a segment's skip index (skip-index.ts): DuckDB lists the skip keys
// (query/skip-keys.ts) of each row group of the Parquet file, and they are hashed into
// that row group's filter.

import type { DuckDBConnection } from "@duckdb/node-api";
import { nextTurn } from "../actors/supervisor.ts";
import { skipKeysSql } from "../query/skip-keys.ts";
import { SkipIndex, skipIndexFits } from "./skip-index.ts";

/**
 * The row groups of a Parquet file (`parquetLiteral` a quoted path), as rows per
 * group in file order: the blocks of its skip index. DuckDB's writer does not cut
 * them at exactly ROW_GROUP_SIZE, so they are read, not assumed.
 */
export async function parquetRowGroups(connection: DuckDBConnection, parquetLiteral: string): Promise<number[]> {
  const result = await connection.runAndReadAll(
    `SELECT row_group_id AS id, max(row_group_num_rows) AS rows FROM parquet_metadata(${parquetLiteral}) GROUP BY row_group_id ORDER BY row_group_id`,
  );
  return result.getRowObjects().map((row) => Number(row.rows));
}

/**
 * Which of consecutive runs of `runRows` rows a file's row falls in (0, 1, ...), as a
 * SQL expression over `file_row_number`: a row group's block, or a compaction input's place.
 */
export function rowRunSql(runRows: readonly number[]): string {
  if (runRows.length <= 1) return "0";
  let end = 0;
  const cases = runRows.slice(0, -1).map((rows, index) => `WHEN file_row_number < ${(end += rows)} THEN ${index}`);
  return `CASE ${cases.join(" ")} ELSE ${runRows.length - 1} END`;
}

/** The file's rows with their block (row group index) as `block`: the source segmentSkipKeysSource reads. */
export function blockRowsSql(parquetLiteral: string, rowGroups: readonly number[]): string {
  return `(SELECT ${rowRunSql(rowGroups)} AS block, message, trace_id, service, hostname, level FROM read_parquet(${parquetLiteral}, file_row_number = true))`;
}

/**
 * The rows skipKeysSql(…, perBlock) reads to list the keys of each block of a segment
 * (`blockRows` from blockRowsSql): fewer than the segment's, yielding exactly the same
 * keys. Splitting words with RE2 costs ~100 ns a word (2-4 µs a row, more than writing
 * the segment), so the regex runs once per distinct space-separated token of a block's
 * distinct messages; trace ids, services (with their levels) and hosts come, each
 * deduplicated per block, from rows whose message is NULL (which yields no word), and
 * a NULL field yields no key. The keys agree because a space always separates words, so a message's words are
 * the union of its tokens' words, and lower() never makes or removes a space; a test
 * checks this on awkward text.
 */
export function segmentSkipKeysSource(blockRows: string): string {
  const tokens = `SELECT block, unnest(string_split(message, ' ')) AS token FROM (SELECT DISTINCT block, message FROM ${blockRows})`;
  const none = "NULL::VARCHAR";
  const noLevel = "NULL::UTINYINT";
  return (
    `(SELECT DISTINCT block, token AS message, ${none} AS trace_id, ${none} AS service, ${none} AS hostname, ${noLevel} AS level FROM (${tokens})` +
    ` UNION ALL SELECT DISTINCT block, ${none}, trace_id, ${none}, ${none}, ${noLevel} FROM ${blockRows}` +
    ` UNION ALL SELECT DISTINCT block, ${none}, ${none}, service, ${none}, level FROM ${blockRows}` +
    ` UNION ALL SELECT DISTINCT block, ${none}, ${none}, ${none}, hostname, ${noLevel} FROM ${blockRows})`
  );
}

/** Keys hashed into a filter between two turns of the event loop: ~5 ms of work. */
const SKIP_INDEX_BUILD_SLICE_KEYS = 20_000;

/**
 * Lists the skip keys of each row group of a Parquet file (`parquetLiteral` a quoted
 * path) and builds its index; undefined when it would pass SKIP_INDEX_BYTES_MAX. The
 * result is materialized, not streamed: a streamed result dies silently when the
 * connection runs another statement.
 */
export async function buildSkipIndex(connection: DuckDBConnection, parquetLiteral: string): Promise<SkipIndex | undefined> {
  const rowGroups = await parquetRowGroups(connection, parquetLiteral);
  // A block's keys come as one newline-joined string (read value by value, the ~3.5M
  // keys of a compacted segment cost seconds of JS); the rare key holding a newline
  // comes alone. Each row: block, whether `keys` is a joined list, keys, how many.
  const keys = `(${skipKeysSql(segmentSkipKeysSource(blockRowsSql(parquetLiteral, rowGroups)), true)})`;
  const result = await connection.run(
    `WITH keys AS MATERIALIZED ${keys}` +
      ` SELECT block, true AS joined, string_agg(key, chr(10)) AS keys, count(*) AS n FROM keys WHERE NOT contains(key, chr(10)) GROUP BY block` +
      ` UNION ALL SELECT block, false, key, 1 FROM keys WHERE contains(key, chr(10))`,
  );
  // Keys stay in their joined strings until hashed (millions of small strings cost
  // gigabytes of heap and long collections), and the event loop gets a turn every
  // SKIP_INDEX_BUILD_SLICE_KEYS keys: a compacted segment's ~3.5M keys otherwise held
  // every query and WAL message of the node for seconds.
  const lists: { block: number; text: string; joined: boolean }[] = [];
  const keyCounts = new Array<number>(rowGroups.length).fill(0);
  for (let chunkIndex = 0; chunkIndex < result.chunkCount; chunkIndex++) {
    const chunk = result.getChunk(chunkIndex);
    const [blocks, joined, texts, counts] = [0, 1, 2, 3].map((column) => chunk.getColumnVector(column));
    for (let row = 0; row < chunk.rowCount; row++) {
      const block = Number(blocks.getItem(row));
      lists.push({ block, text: texts.getItem(row) as string, joined: joined.getItem(row) === true });
      keyCounts[block] += Number(counts.getItem(row));
    }
  }
  if (!skipIndexFits(keyCounts)) return undefined;
  const index = SkipIndex.forBlocks(rowGroups, keyCounts);
  let sinceYield = 0;
  for (const { block, text, joined } of lists) {
    if (!joined) {
      index.add(block, text);
      continue;
    }
    for (let start = 0; ; ) {
      const end = text.indexOf("\n", start);
      index.add(block, end < 0 ? text.slice(start) : text.slice(start, end));
      if (++sinceYield >= SKIP_INDEX_BUILD_SLICE_KEYS) {
        sinceYield = 0;
        await nextTurn();
      }
      if (end < 0) break;
      start = end + 1;
    }
  }
  return index;
}
