// A shard's search among its recent rows (storage/recent-rows.ts, query/recent-search.ts):
// what the page's rows are, where they lie, and what is left for DuckDB to read. Used
// by shard-query.ts when the filter names only tenant, service, level and time.

import type { StoredEvent } from "../protocol/event.ts";
import type { ShardSearchRequest } from "../protocol/query-messages.ts";
import { readPartRows } from "../storage/memtable-part-rows.ts";
import type { RecentRows } from "../storage/recent-rows.ts";
import { eventId, rowToEvent } from "../storage/schema.ts";
import type { StoreSnapshot } from "../storage/shard-store.ts";
import type { SearchOrder } from "./filter.ts";
import { compareInOrder } from "./merge.ts";
import { recentPlan, searchRecent, type RecentMatch } from "./recent-search.ts";
import { ORDER_COLUMNS } from "./sql.ts";

/** Columns a search reply may need that recent rows hold: its order and the event id. */
const RECENT_COLUMNS: ReadonlySet<string> = new Set(ORDER_COLUMNS);

/** Files for DuckDB to read: memtable parts (SQL literals) and segment reads. */
export interface FileReads {
  memtableParts: string[];
  segments: StoreSnapshot["segments"];
}

/** What recent rows found for a search, and what they leave to DuckDB. */
export interface RecentFound extends FileReads {
  /** The page's rows the recent rows give: by their ordering columns, or whole (see searchRecentRows). */
  rows: StoredEvent[];
  /** Rows looked at in memory, plus those of parts DuckDB still reads. */
  scanned: number;
  /** The longest run of the given page rows from the first that memtable parts hold, read whole from their files; undefined for a whole-row search. */
  whole?: (rows: readonly StoredEvent[], columns: readonly string[] | undefined) => StoredEvent[];
}

/** Where a match lies: a memtable part or a segment of the snapshot, by index. */
type Place = { part: number } | { segment: number };

/**
 * A search's page among the snapshot's recent rows, when its filter is one they decide
 * (recentPlan); undefined when they cannot answer (the filter, or none held). Asked for
 * the ordering columns only (a broad search's windows), the page's recent rows are
 * the answer and no file with recent rows is left to read; `whole` then reads the
 * first of them whole where memtable parts hold them. Asked for whole rows, the page's rows in memtable parts are read from
 * their files (memtable-part-rows.ts), and of the segments with recent rows only
 * those holding a page row are left to read, between their first and last.
 */
export function searchRecentRows(snapshot: StoreSnapshot, request: ShardSearchRequest, order: SearchOrder): RecentFound | undefined {
  const plan = recentPlan(request.tenant, request.filter, order, request.cursor);
  const files = snapshot.memtableFiles ?? [];
  if (!plan || (!files.some((file) => file.recent) && !snapshot.segments.some((read) => read.recent))) return undefined;
  const blocks: RecentRows[] = [];
  const places: Place[] = [];
  const add = (recent: RecentRows | undefined, place: Place) => (recent ? (places.push(place), blocks.push(recent) - 1) : -1);
  const partBlock = files.map((file, part) => add(file.recent, { part }));
  const segmentBlock = snapshot.segments.map((read, segment) => add(read.recent, { segment }));
  const { matches, scanned: held } = searchRecent(blocks, plan, request.limit);
  // Rows of parts without recent rows, which DuckDB still reads.
  const scanned = held + snapshot.tableRows - files.reduce((sum, file) => sum + (file.recent?.rows ?? 0), 0);
  const unheld: FileReads = {
    memtableParts: snapshot.memtableParts.filter((_, index) => partBlock[index] < 0),
    segments: snapshot.segments.filter((_, index) => segmentBlock[index] < 0),
  };
  const keysOnly = request.columns !== undefined && request.columns.every((column) => RECENT_COLUMNS.has(column));
  if (keysOnly) {
    const byId = new Map(matches.map((match) => [idOf(match), match]));
    return {
      rows: matches.map((match) => rowToEvent({ ts: match.ts, ingest_ts: match.ingestTs, seq: match.seq, idx: match.idx })),
      scanned,
      ...unheld,
      whole: (rows, columns) => {
        // The longest run of the rows from the first that lie in memtable parts read without DuckDB: a statement
        // here (a segment's row group) waited behind every other shard's on the worker pool, and cost the window
        // more than the second step it saved.
        const located: RecentMatch[] = [];
        for (const row of rows) {
          const match = byId.get(row.id);
          const place = match && places[match.block];
          if (!match || !place || !("part" in place) || !files[place.part].layout) break;
          located.push(match);
        }
        const read = readWhole(snapshot, located, places, columns);
        const whole = new Map(read.rows.map((row) => [row.id, row]));
        const out: StoredEvent[] = [];
        for (const match of located) {
          const row = whole.get(idOf(match));
          if (!row) break; // not the row the recent rows said: the rest go by their ordering columns
          out.push(row);
        }
        return out;
      },
    };
  }
  const read = readWhole(snapshot, matches, places, request.columns);
  return {
    rows: read.rows.sort(compareInOrder(order)),
    scanned,
    memtableParts: [...unheld.memtableParts, ...read.memtableParts],
    segments: [...unheld.segments, ...read.segments],
  };
}

function idOf(match: RecentMatch): string {
  return eventId(match.ingestTs, match.seq, match.idx);
}

/**
 * Whole rows of `matches`: those in memtable parts read from their files, and what is
 * left for DuckDB: parts of several pages a column holding a match, and each segment
 * holding one, between its first and last.
 */
function readWhole(snapshot: StoreSnapshot, matches: readonly RecentMatch[], places: readonly Place[], columns: readonly string[] | undefined): { rows: StoredEvent[] } & FileReads {
  const positions = new Map<number, number[]>();
  for (const match of matches) {
    const rows = positions.get(match.block);
    if (rows) rows.push(match.row);
    else positions.set(match.block, [match.row]);
  }
  const wanted = columns ? new Set([...ORDER_COLUMNS, ...columns]) : undefined;
  const rows: StoredEvent[] = [];
  const memtableParts: string[] = [];
  const segments: StoreSnapshot["segments"] = [];
  for (const [block, rowsOf] of positions) {
    rowsOf.sort((a, b) => a - b);
    const place = places[block];
    if ("part" in place) {
      const file = snapshot.memtableFiles![place.part];
      if (file.layout) for (const record of readPartRows(file.path, file.layout, file.rows, rowsOf, wanted)) rows.push(rowToEvent(record));
      else memtableParts.push(snapshot.memtableParts[place.part]);
    } else {
      const source = snapshot.segments[place.segment];
      segments.push({ ...source, ranges: [{ start: rowsOf[0], end: rowsOf[rowsOf.length - 1] + 1 }] });
    }
  }
  return { rows, memtableParts, segments };
}
