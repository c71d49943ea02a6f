// Whole rows at given positions of a memtable part, read from its file without DuckDB.
// The file is one this process wrote (parquetFileParts, or a join of such): every
// column REQUIRED and PLAIN in one uncompressed page, so row r of a fixed-width column
// is at a known offset and a string column's values are length-prefixed end to end.
// A search's page holds a few rows of a few parts of each shard; DuckDB decoded every
// row of those parts to return them (~3 ms of CPU for a joined part of ~9k rows, on
// the worker pool all 16 shards share), while this reads the columns' bytes and steps
// over the values before the rows wanted.

import { closeSync, openSync, readSync } from "node:fs";
import { singlePageValueRanges, type ValueRange } from "./parquet-writer.ts";
import { COLUMNS } from "./schema.ts";

/**
 * Strings as @duckdb/node-api gives them to the SQL path: its decoder drops a leading
 * U+FEFF, so this one does too (SQL compares the stored bytes, BOM and all; recent
 * rows' stream names keep it for that, row-buffer.ts).
 */
const decoder = new TextDecoder();
/** Bytes of each column's PLAIN values of one row, for fixed-width columns (schema.ts COLUMNS). */
const FIXED_WIDTH: Record<(typeof COLUMNS)[number][1], number | undefined> = { BIGINT: 8, UINTEGER: 4, UTINYINT: 4, VARCHAR: undefined };

/** Rows between two checkpoints of a string column: a read of one row steps over at most this many values before it. */
export const PART_CHECKPOINT_ROWS = 64;

/**
 * Where a part file's values lie: each column's PLAIN values (one page a column), and
 * where every PART_CHECKPOINT_ROWS-th value of each string column starts in them
 * (undefined for fixed-width columns), so a read of a few rows reads a few hundred
 * bytes of each string column instead of all of it up to them (the newest rows are a
 * part's last). The checkpoints take ~0.4 bytes a row.
 */
export interface PartLayout {
  ranges: readonly ValueRange[];
  checkpoints: readonly (Uint32Array | undefined)[];
}

/** The layout of the file parquetFileParts gave as `fileParts` for `rows` rows; undefined when a column took several pages. */
export function partLayout(fileParts: readonly Uint8Array[], rows: number): PartLayout | undefined {
  const ranges = singlePageValueRanges(fileParts, COLUMNS.length);
  if (!ranges) return undefined;
  const checkpoints: (Uint32Array | undefined)[] = [];
  for (const [column, [, type]] of COLUMNS.entries()) {
    if (FIXED_WIDTH[type] !== undefined) {
      checkpoints.push(undefined);
      continue;
    }
    const values = fileParts[2 + 2 * column];
    const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
    const marks = new Uint32Array(Math.ceil(rows / PART_CHECKPOINT_ROWS));
    let offset = 0;
    for (let row = 0; row < rows; row++) {
      if (row % PART_CHECKPOINT_ROWS === 0) marks[row / PART_CHECKPOINT_ROWS] = offset;
      if (offset + 4 > values.length) return undefined;
      offset += 4 + view.getUint32(offset, true);
    }
    if (offset !== values.length) return undefined;
    checkpoints.push(marks);
  }
  return { ranges, checkpoints };
}

export class PartReadError extends Error {
  readonly code = "part_unreadable";
}

/**
 * Rows `positions` (ascending, each below `rows`) of the part at `path` laid out as
 * `layout`, as DuckDB would give them for `columns` (all when undefined):
 * a record of column name to value (BIGINT and integer columns as numbers).
 */
export function readPartRows(path: string, layout: PartLayout, rows: number, positions: readonly number[], columns?: ReadonlySet<string>): Record<string, unknown>[] {
  const { ranges, checkpoints } = layout;
  if (ranges.length !== COLUMNS.length) throw new PartReadError(`${path}: ${ranges.length} column ranges for ${COLUMNS.length} columns`);
  const records: Record<string, unknown>[] = positions.map(() => ({}));
  for (let at = 1; at < positions.length; at++) if (!(positions[at] > positions[at - 1])) throw new PartReadError(`${path}: positions out of order`);
  if (positions.length === 0) return records;
  if (positions[0] < 0 || positions[positions.length - 1] >= rows) throw new PartReadError(`${path}: a position past its ${rows} rows`);
  const descriptor = openSync(path, "r");
  try {
    COLUMNS.forEach(([name, type], column) => {
      if (columns && !columns.has(name)) return;
      const { start, end } = ranges[column];
      const width = FIXED_WIDTH[type];
      if (width !== undefined) {
        if (end - start !== rows * width) throw new PartReadError(`${path}: column ${name} holds ${end - start} bytes for ${rows} rows`);
        // From the first wanted row to the last: a page's rows are a part's newest, at its end.
        const first = positions[0];
        const bytes = readRange(descriptor, path, start + first * width, start + (positions[positions.length - 1] + 1) * width);
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        if (width === 8) positions.forEach((position, index) => (records[index][name] = Number(view.getBigInt64((position - first) * 8, true))));
        else positions.forEach((position, index) => (records[index][name] = view.getUint32((position - first) * 4, true)));
        return;
      }
      // A string column is read from the checkpoint before each run of wanted rows to the next checkpoint (without checkpoints: from its start).
      const marks = checkpoints[column];
      let index = 0;
      while (index < positions.length) {
        const block = marks ? Math.floor(positions[index] / PART_CHECKPOINT_ROWS) : 0;
        const from = marks ? marks[block] : 0;
        const to = marks && block + 1 < marks.length ? marks[block + 1] : end - start;
        const bytes = readRange(descriptor, path, start + from, start + to);
        const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
        let offset = 0;
        let row = marks ? block * PART_CHECKPOINT_ROWS : 0;
        const last = marks ? (block + 1) * PART_CHECKPOINT_ROWS : rows;
        for (; index < positions.length && positions[index] < last; index++) {
          for (; row < positions[index]; row++) offset += 4 + lengthAt(view, offset, path, name);
          const length = lengthAt(view, offset, path, name);
          records[index][name] = decoder.decode(bytes.subarray(offset + 4, offset + 4 + length));
          offset += 4 + length;
          row++;
        }
      }
    });
  } finally {
    closeSync(descriptor);
  }
  return records;
}

/** The length prefix of the value at `offset`, checked against the bytes read. */
function lengthAt(view: DataView, offset: number, path: string, name: string): number {
  if (offset + 4 > view.byteLength) throw new PartReadError(`${path}: column ${name} ends before its rows do`);
  const length = view.getUint32(offset, true);
  if (offset + 4 + length > view.byteLength) throw new PartReadError(`${path}: column ${name} ends inside a value`);
  return length;
}

function readRange(descriptor: number, path: string, start: number, end: number): Uint8Array {
  const bytes = new Uint8Array(end - start);
  for (let at = 0; at < bytes.length; ) {
    const read = readSync(descriptor, bytes, at, bytes.length - at, start + at);
    if (read === 0) throw new PartReadError(`${path}: file ends at ${start + at}, before ${end}`);
    at += read;
  }
  return bytes;
}
