// A minimal Parquet writer for handing rows to DuckDB as columns: one row group, one
// uncompressed PLAIN data page per column, every column REQUIRED. It exists because
// parsing is what a flush cost: read_ndjson took ~2 µs a row of Loghub-like events
// (12 columns), while DuckDB reads PLAIN Parquet columns nearly as fast as it copies
// them, and writing them in JS is a copy too, without JSON's keys and escapes.
//
// Only what that needs is here (see the Thrift definitions in Apache Parquet's
// parquet.thrift, written with Thrift's compact protocol): the file is "PAR1", each
// column's page header and values, the FileMetaData, its length and "PAR1" again.

/** Parquet physical types used here (parquet.thrift `Type`). */
export const enum ParquetType {
  INT32 = 1,
  INT64 = 2,
  BYTE_ARRAY = 6,
}

/** Parquet converted types used here (parquet.thrift `ConvertedType`). */
export const enum ConvertedType {
  UTF8 = 0,
  UINT_8 = 11,
  UINT_32 = 13,
}

/** One column of the file: its name, types, and its PLAIN-encoded values. */
export interface ParquetColumn {
  name: string;
  type: ParquetType;
  converted?: ConvertedType;
  /** PLAIN values: INT32 as 4 bytes, INT64 as 8 (little-endian), BYTE_ARRAY as a 4-byte length and the bytes. */
  values: Uint8Array;
}

// Thrift compact protocol type ids.
const T_I32 = 5;
const T_I64 = 6;
const T_BINARY = 8;
const T_LIST = 9;
const T_STRUCT = 12;

/** Bytes written at the end of a buffer that doubles as needed. */
export class GrowableBytes {
  bytes: Uint8Array;
  length = 0;

  constructor(initialBytes: number) {
    this.bytes = new Uint8Array(initialBytes);
  }

  /** Makes room for `extra` more bytes. */
  reserve(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    let capacity = this.bytes.length * 2;
    while (capacity < this.length + extra) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  view(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** Writes Thrift compact protocol. */
class CompactWriter extends GrowableBytes {
  private lastField: number[] = [];
  private last = 0;

  constructor() {
    super(4096);
  }

  private byte(value: number): void {
    this.reserve(1);
    this.bytes[this.length++] = value;
  }

  /** An unsigned varint of a non-negative safe integer. */
  private varint(value: number): void {
    this.reserve(10);
    while (value >= 0x80) {
      this.bytes[this.length++] = (value % 0x80) | 0x80;
      value = Math.floor(value / 0x80);
    }
    this.bytes[this.length++] = value;
  }

  /** A zigzag varint: Thrift's i16, i32 and i64 (non-negative here, so 2 * value). */
  private zigzag(value: number): void {
    if (value < 0) throw new RangeError(`parquet writer: negative ${value} is not written here`);
    this.varint(value * 2);
  }

  private fieldHeader(id: number, type: number): void {
    const delta = id - this.last;
    if (delta > 0 && delta <= 15) this.byte((delta << 4) | type);
    else {
      this.byte(type);
      this.zigzag(id);
    }
    this.last = id;
  }

  i32(id: number, value: number): this {
    this.fieldHeader(id, T_I32);
    this.zigzag(value);
    return this;
  }

  i64(id: number, value: number): this {
    this.fieldHeader(id, T_I64);
    this.zigzag(value);
    return this;
  }

  string(id: number, value: string): this {
    this.fieldHeader(id, T_BINARY);
    return this.stringElement(value);
  }

  /** A list field of `count` elements of compact type `elementType`; the caller writes the elements. */
  list(id: number, elementType: number, count: number): this {
    this.fieldHeader(id, T_LIST);
    if (count < 15) this.byte((count << 4) | elementType);
    else {
      this.byte(0xf0 | elementType);
      this.varint(count);
    }
    return this;
  }

  /** An element of a list of i32 (an enum). */
  i32Element(value: number): this {
    this.zigzag(value);
    return this;
  }

  /** An element of a list of strings. */
  stringElement(value: string): this {
    const encoded = new TextEncoder().encode(value);
    this.varint(encoded.length);
    this.reserve(encoded.length);
    this.bytes.set(encoded, this.length);
    this.length += encoded.length;
    return this;
  }

  /** Starts a struct: a field of one (`id`), or an element of a list of them (no id). */
  beginStruct(id?: number): this {
    if (id !== undefined) this.fieldHeader(id, T_STRUCT);
    this.lastField.push(this.last);
    this.last = 0;
    return this;
  }

  endStruct(): this {
    this.byte(0); // stop
    this.last = this.lastField.pop() ?? 0;
    return this;
  }
}

const MAGIC = new TextEncoder().encode("PAR1");
/**
 * Most bytes of values in one data page: a page header sizes its page in a 32-bit
 * integer, and a flush's part can outgrow that (the rows of a few compressed WAL
 * messages inflated to their cap), so a longer column is cut into several pages.
 */
export const PAGE_BYTES_MAX = 256 * 1024 * 1024;
const PLAIN = 0;
const RLE = 3;
const UNCOMPRESSED = 0;
const DATA_PAGE = 0;
const REQUIRED = 0;

/** The header of a column's one data page. */
function pageHeader(rows: number, valueBytes: number): Uint8Array {
  const header = new CompactWriter();
  header.beginStruct();
  header.i32(1, DATA_PAGE).i32(2, valueBytes).i32(3, valueBytes);
  header.beginStruct(5).i32(1, rows).i32(2, PLAIN).i32(3, RLE).i32(4, RLE).endStruct();
  header.endStruct();
  return header.view().slice();
}

/** Where `values` (PLAIN, of `type`) are cut into pages of at most `pageBytesMax` bytes: [end byte, values] per page. */
export function pageCuts(type: ParquetType, values: Uint8Array, rows: number, pageBytesMax: number): [number, number][] {
  if (values.length <= pageBytesMax) return [[values.length, rows]];
  const cuts: [number, number][] = [];
  if (type !== ParquetType.BYTE_ARRAY) {
    const width = type === ParquetType.INT64 ? 8 : 4;
    const perPage = Math.max(1, Math.floor(pageBytesMax / width));
    for (let first = 0; first < rows; first += perPage) cuts.push([Math.min(rows, first + perPage) * width, Math.min(perPage, rows - first)]);
    return cuts;
  }
  const view = new DataView(values.buffer, values.byteOffset, values.length);
  let pageStart = 0;
  let count = 0;
  for (let at = 0; at < values.length; ) {
    const next = at + 4 + view.getUint32(at, true);
    // A value longer than a page gets a page of its own.
    if (count > 0 && next - pageStart > pageBytesMax) {
      cuts.push([at, count]);
      pageStart = at;
      count = 0;
    }
    count++;
    at = next;
  }
  cuts.push([values.length, count]);
  return cuts;
}

/**
 * The Parquet file of `rows` rows in `columns` (each column's values holding exactly
 * `rows` values), as the parts to write one after another: no copy of the values.
 */
export function parquetFileParts(columns: readonly ParquetColumn[], rows: number, pageBytesMax = PAGE_BYTES_MAX): Uint8Array[] {
  const parts: Uint8Array[] = [MAGIC];
  let offset = MAGIC.length;
  const chunks: { offset: number; bytes: number }[] = [];
  for (const column of columns) {
    const chunk = { offset, bytes: 0 };
    let start = 0;
    for (const [end, count] of pageCuts(column.type, column.values, rows, pageBytesMax)) {
      const header = pageHeader(count, end - start);
      const page = column.values.subarray(start, end);
      parts.push(header, page);
      chunk.bytes += header.length + page.length;
      start = end;
    }
    chunks.push(chunk);
    offset += chunk.bytes;
  }
  const meta = new CompactWriter();
  meta.beginStruct();
  meta.i32(1, 1);
  meta.list(2, T_STRUCT, columns.length + 1);
  meta.beginStruct().string(4, "schema").i32(5, columns.length).endStruct();
  for (const column of columns) {
    meta.beginStruct().i32(1, column.type).i32(3, REQUIRED).string(4, column.name);
    if (column.converted !== undefined) meta.i32(6, column.converted);
    meta.endStruct();
  }
  meta.i64(3, rows);
  meta.list(4, T_STRUCT, 1);
  meta.beginStruct();
  meta.list(1, T_STRUCT, columns.length);
  columns.forEach((column, index) => {
    const chunk = chunks[index];
    meta.beginStruct().i64(2, chunk.offset);
    meta.beginStruct(3).i32(1, column.type);
    meta.list(2, T_I32, 2).i32Element(PLAIN).i32Element(RLE);
    meta.list(3, T_BINARY, 1).stringElement(column.name);
    meta.i32(4, UNCOMPRESSED).i64(5, rows).i64(6, chunk.bytes).i64(7, chunk.bytes).i64(9, chunk.offset);
    meta.endStruct();
    meta.endStruct();
  });
  // The column chunks lie one after another from the magic on.
  meta.i64(2, offset - MAGIC.length).i64(3, rows);
  meta.endStruct();
  meta.string(6, "sluice");
  meta.endStruct();
  const footer = meta.view();
  const trailer = new Uint8Array(8);
  new DataView(trailer.buffer).setUint32(0, footer.length, true);
  trailer.set(MAGIC, 4);
  parts.push(footer, trailer);
  return parts;
}

/** A column's name and types: a ParquetColumn without its values. */
export type ParquetColumnType = Omit<ParquetColumn, "values">;

/** Where a column's PLAIN values lie in a file: bytes [start, end). */
export interface ValueRange {
  start: number;
  end: number;
}

/**
 * Where each column's values lie in the file parquetFileParts gave as `parts` (for
 * `columnCount` columns) when every column took one page; undefined when one took
 * several (such a file is not joined).
 */
export function singlePageValueRanges(parts: readonly Uint8Array[], columnCount: number): ValueRange[] | undefined {
  // The magic, a header and its values per column, then the footer and its trailer.
  if (parts.length !== 1 + 2 * columnCount + 2) return undefined;
  const ranges: ValueRange[] = [];
  let offset = parts[0].length;
  for (let column = 0; column < columnCount; column++) {
    offset += parts[1 + 2 * column].length;
    const values = parts[2 + 2 * column];
    ranges.push({ start: offset, end: offset + values.length });
    offset += values.length;
  }
  return ranges;
}

/** A file parquetFileParts wrote with one page per column: its bytes, rows, and where each column's values lie (singlePageValueRanges). */
export interface PlainFile {
  bytes: Uint8Array;
  rows: number;
  ranges: readonly ValueRange[];
}

/**
 * One file of the rows of `files` one after another, each written by parquetFileParts
 * for `columns`: each column's values joined into one page. Nothing is decoded or
 * encoded again, as a REQUIRED column's PLAIN page is its values end to end.
 */
export function joinedParquetFileParts(columns: readonly ParquetColumnType[], files: readonly PlainFile[], pageBytesMax = PAGE_BYTES_MAX): Uint8Array[] {
  for (const file of files) {
    if (file.ranges.length !== columns.length) throw new RangeError(`parquet writer: a file of ${file.ranges.length} columns joined as ${columns.length}`);
  }
  const rows = files.reduce((sum, file) => sum + file.rows, 0);
  const joined = columns.map((column, index) => {
    const values = new Uint8Array(files.reduce((sum, file) => sum + file.ranges[index].end - file.ranges[index].start, 0));
    let at = 0;
    for (const file of files) {
      const { start, end } = file.ranges[index];
      values.set(file.bytes.subarray(start, end), at);
      at += end - start;
    }
    return { ...column, values };
  });
  return parquetFileParts(joined, rows, pageBytesMax);
}
