// The ordering and stream columns of a shard's recent rows, kept in memory beside their
// files: a memtable part's rows from its flush, a sealed segment's as its parts' rows
// one after another (the seal copies them in that order). A dashboard's
// `service:X level:ERROR` over the last minutes needs only these columns to find its
// page, and through DuckDB that cost a statement over every recent file of every
// shard (~90k rows a shard under 100k events/s live ingest, 5-8 ms of CPU each, twice a
// page). In memory it is a scan of typed arrays (query/recent-search.ts), and only the
// files holding the page's rows are read whole.

/** A (tenant, service) pair the rows name by number. */
export interface RecentStream {
  tenant: string;
  service: string;
}

/**
 * Rows' event time, id (ingest_ts, seq, idx), level index and stream, in file order:
 * row i here is row i (file_row_number) of its file. ~33 bytes a row.
 */
export class RecentRows {
  constructor(
    readonly ts: Float64Array,
    readonly ingestTs: Float64Array,
    readonly seq: Float64Array,
    readonly idx: Uint32Array,
    readonly level: Uint8Array,
    /** Each row's stream, an index into `streams`. */
    readonly stream: Uint32Array,
    readonly streams: readonly RecentStream[],
  ) {
    const rows = ts.length;
    if (ingestTs.length !== rows || seq.length !== rows || idx.length !== rows || level.length !== rows || stream.length !== rows) throw new Error("recent rows: columns of different lengths");
  }

  get rows(): number {
    return this.ts.length;
  }

  /** The rows of `blocks` one after another, as a file joined or sealed from theirs holds them. */
  static concat(blocks: readonly RecentRows[]): RecentRows {
    const rows = blocks.reduce((sum, block) => sum + block.rows, 0);
    const ts = new Float64Array(rows);
    const ingestTs = new Float64Array(rows);
    const seq = new Float64Array(rows);
    const idx = new Uint32Array(rows);
    const level = new Uint8Array(rows);
    const stream = new Uint32Array(rows);
    const streams: RecentStream[] = [];
    const numbers = new Map<string, number>();
    let at = 0;
    for (const block of blocks) {
      ts.set(block.ts, at);
      ingestTs.set(block.ingestTs, at);
      seq.set(block.seq, at);
      idx.set(block.idx, at);
      level.set(block.level, at);
      // Stream numbers are the block's own: renumber them into the joined list.
      const renumber = block.streams.map((each) => {
        const key = `${each.tenant}\u0000${each.service}`;
        let number = numbers.get(key);
        if (number === undefined) {
          number = streams.length;
          numbers.set(key, number);
          streams.push(each);
        }
        return number;
      });
      for (let row = 0; row < block.rows; row++) stream[at + row] = renumber[block.stream[row]];
      at += block.rows;
    }
    return new RecentRows(ts, ingestTs, seq, idx, level, stream, streams);
  }
}
