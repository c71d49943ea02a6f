// Goal: a broad search's two steps (keys-first.ts: ordering columns first, then whole
// rows at or past the page's last row) give exactly the page one step gives, in both
// orders, with ties at the bound, a cursor and a time range, also when shards send
// their first rows whole and the second step is left out; and only broad searches
// take them.
// Method: simulated shards answering a search as a shard does (filter by range and
// cursor, sort, limit); pages merged with mergeSearch, compared row for row.

import { describe, expect, test } from "bun:test";
import type { StoredEvent } from "../src/protocol/event.ts";
import type { ShardSearchReply } from "../src/protocol/query-messages.ts";
import type { Cursor, SearchFilter, SearchOrder } from "../src/query/filter.ts";
import { keysFirst, narrowToPage, pageWindows, searchInWindows, wholeRowsAsked } from "../src/query/keys-first.ts";
import { FIRST_WINDOW_US, WHOLE_ROWS_ASKED_MAX, WINDOW_GROWTH, WINDOWS_MAX } from "../src/query/limits.ts";
import { compareInOrder, mergeSearch } from "../src/query/merge.ts";
import { parseQuery } from "../src/query/parser.ts";
import { Draw, seeded } from "./helpers/random.ts";

/** The parsed q, or a test failure naming the parse error. */
function q(text: string) {
  const parsed = parseQuery(text);
  if (!parsed.ok) throw new Error(`${text}: ${JSON.stringify(parsed)}`);
  return parsed.query;
}

const NONE: SearchFilter = { services: [], levels: [], hostnames: [], traceIds: [], query: null };

function event(timestampUs: number, id: string): StoredEvent {
  return { id, timestampUs, ingestTs: 0, tenant: "default", level: "INFO", service: "api", hostname: "h", traceId: "", spanId: "", message: "m", metadata: "{}", seq: 0 };
}

/** A reply cut by its byte budget after `keep` rows. */
function cut(reply: ShardSearchReply, keep: number): ShardSearchReply {
  return reply.rows.length > keep ? { ...reply, rows: reply.rows.slice(0, keep), truncated: true } : reply;
}

/** What a shard answers: its rows in [fromUs, toUs) after the cursor, in order, at most `limit`. */
function shardSearch(shard: number, rows: readonly StoredEvent[], filter: SearchFilter, order: SearchOrder, limit: number, cursor?: Cursor): ShardSearchReply {
  const compare = compareInOrder(order);
  const after = cursor && event(cursor.ts, cursor.id);
  const found = rows
    .filter((row) => (filter.fromUs === undefined || row.timestampUs >= filter.fromUs) && (filter.toUs === undefined || row.timestampUs < filter.toUs))
    .filter((row) => !after || compare(row, after) > 0)
    .sort(compare)
    .slice(0, limit);
  return { ok: true, kind: "search", rows: found, truncated: false, shard, tookMs: 0, segmentsTotal: 0, segmentsSkipped: 0, rowsScanned: 0 };
}

describe("searchInWindows", () => {
  test("gives the one-step page and cursor, page after page, in both orders, with ties, ranges and a byte-cut reply", async () => {
    const draw = new Draw(seeded(5));
    const S = 1_000_000;
    let pagesWithoutSecondRead = 0;
    for (let round = 0; round < 300; round++) {
      // Times over ~2 h, clustered, so pages fill in the first window, a later one, or not at all.
      const span = draw.pick([20 * S, 600 * S, 7_200 * S]);
      const times = Array.from({ length: 8 }, () => draw.int(span));
      const shards = Array.from({ length: 1 + draw.int(6) }, (_, shard) => Array.from({ length: draw.int(60) }, (_, index) => event(draw.pick(times) + draw.int(3), `${shard}-${String(index).padStart(3, "0")}`)));
      const order: SearchOrder = draw.chance(0.5) ? "newest" : "oldest";
      const limit = 1 + draw.int(15);
      const filter: SearchFilter = { ...NONE, fromUs: draw.chance(0.5) ? draw.int(span / 4) : undefined, toUs: draw.chance(0.7) ? span - draw.int(span / 4) : undefined };
      // "Now" anywhere around the rows: rows stamped after it are still in an open-ended search.
      const nowUs = draw.int(span + span / 2);
      const cutShard = draw.chance(0.2) ? draw.int(shards.length) : -1;
      // Shards that send their first rows whole in a window (wholeRows), as a shard holding them in memory does: none, some, or every one.
      const wholePrefix = shards.map(() => (draw.chance(0.5) ? draw.int(limit + 1) : 0));
      let cursor: Cursor | undefined;
      const asked: SearchFilter[] = [];
      const seen: string[] = [];
      for (let pageNumber = 0; pageNumber < 5000; pageNumber++) {
        const one = mergeSearch(shards.map((rows, shard) => shardSearch(shard, rows, filter, order, limit, cursor)), limit, order);
        let rowSteps = 0;
        const ask = async (stepFilter: SearchFilter, keysOnly: boolean) => {
          asked.push(stepFilter);
          if (!keysOnly) rowSteps++;
          // One shard's replies are cut to 2 rows by its byte budget, as a shard does.
          const replies = shards.map((rows, shard) => (shard === cutShard ? cut(shardSearch(shard, rows, stepFilter, order, limit, cursor), 2) : shardSearch(shard, rows, stepFilter, order, limit, cursor)));
          return { replies: keysOnly ? replies.map((reply, shard) => (wholePrefix[shard] > 0 ? { ...reply, wholeRows: Math.min(wholePrefix[shard], reply.rows.length) } : reply)) : replies };
        };
        const windowed = await searchInWindows({ filter, limit, order, cursor }, nowUs, ask);
        // A page every row of which came whole needs no second read; any other non-empty page does.
        const wholeIds = new Set(windowed.windows.flatMap((step) => step.replies.flatMap((reply) => reply.rows.slice(0, reply.wholeRows ?? 0).map((row) => row.id))));
        const windowsPage = mergeSearch(windowed.windows.flatMap((step) => step.replies), limit, order).rows;
        const allWhole = windowsPage.every((row) => wholeIds.has(row.id));
        if (windowsPage.length > 0) expect(rowSteps).toBe(allWhole ? 0 : 1);
        if (rowSteps === 0 && windowed.merged.rows.length > 0) pagesWithoutSecondRead++;
        seen.push(...windowed.merged.rows.map((row) => row.id));
        if (cutShard < 0) {
          expect(windowed.merged.rows.map((row) => row.id)).toEqual(one.rows.map((row) => row.id));
          expect(Boolean(windowed.merged.nextCursor)).toBe(Boolean(one.nextCursor) || one.rows.length >= limit);
        }
        if (!windowed.merged.nextCursor) break;
        cursor = windowed.merged.nextCursor;
      }
      // Paging through, with or without a cut reply, sees every row in the range once, in order.
      const all = shards.flatMap((rows, shard) => shardSearch(shard, rows, filter, order, Infinity).rows).sort(compareInOrder(order));
      expect(seen).toEqual(all.map((row) => row.id));
      // Windows never reach outside the search's range.
      for (const step of asked) {
        if (filter.fromUs !== undefined) expect(step.fromUs).toBeGreaterThanOrEqual(filter.fromUs);
        if (filter.toUs !== undefined) expect(step.toUs).toBeLessThanOrEqual(filter.toUs);
      }
    }
    expect(pagesWithoutSecondRead).toBeGreaterThan(50);
  });
});

describe("wholeRowsAsked", () => {
  test("three times a page's share of each shard and a few, never past the page or WHOLE_ROWS_ASKED_MAX", () => {
    expect(wholeRowsAsked(100, 16)).toBe(27);
    expect(wholeRowsAsked(5, 16)).toBe(5);
    expect(wholeRowsAsked(20, 1)).toBe(20);
    expect(wholeRowsAsked(1_000, 2)).toBe(WHOLE_ROWS_ASKED_MAX);
  });
});

describe("narrowToPage", () => {
  test("newest first raises from to the last row's time; oldest first lowers to just past it; the other bound stays", () => {
    expect(narrowToPage({ ...NONE, fromUs: 5, toUs: 50 }, "newest", 20)).toMatchObject({ fromUs: 20, toUs: 50 });
    expect(narrowToPage({ ...NONE, fromUs: 30, toUs: 50 }, "newest", 20)).toMatchObject({ fromUs: 30, toUs: 50 });
    expect(narrowToPage({ ...NONE }, "newest", 20)).toEqual({ ...NONE, fromUs: 20 });
    expect(narrowToPage({ ...NONE, fromUs: 5, toUs: 50 }, "oldest", 20)).toMatchObject({ fromUs: 5, toUs: 21 });
    expect(narrowToPage({ ...NONE, toUs: 10 }, "oldest", 20)).toMatchObject({ toUs: 10 });
  });
});

describe("pageWindows", () => {
  const W = FIRST_WINDOW_US;
  test("newest first: from the end back, widening, the last window taking the rest", () => {
    expect(pageWindows({ ...NONE, fromUs: 0, toUs: 100 * W }, "newest", 0)).toEqual([
      { fromUs: 99 * W, toUs: 100 * W },
      { fromUs: (99 - WINDOW_GROWTH) * W, toUs: 99 * W },
      { fromUs: (99 - WINDOW_GROWTH - WINDOW_GROWTH ** 2) * W, toUs: (99 - WINDOW_GROWTH) * W },
      { fromUs: 0, toUs: (99 - WINDOW_GROWTH - WINDOW_GROWTH ** 2) * W },
    ]);
    expect(pageWindows({ ...NONE, fromUs: 5, toUs: 10 }, "newest", 0)).toEqual([{ fromUs: 5, toUs: 10 }]);
    const open = pageWindows({ ...NONE, toUs: 1e15 }, "newest", 0);
    expect(open.length).toBe(WINDOWS_MAX);
    expect(open[open.length - 1]).toEqual({ fromUs: undefined, toUs: open[open.length - 2].fromUs });
    // No `to`: back from now, the newest window open-ended.
    expect(pageWindows({ ...NONE, fromUs: 0 }, "newest", 100 * W)).toEqual([
      { fromUs: 99 * W, toUs: undefined },
      { fromUs: (99 - WINDOW_GROWTH) * W, toUs: 99 * W },
      { fromUs: (99 - WINDOW_GROWTH - WINDOW_GROWTH ** 2) * W, toUs: (99 - WINDOW_GROWTH) * W },
      { fromUs: 0, toUs: (99 - WINDOW_GROWTH - WINDOW_GROWTH ** 2) * W },
    ]);
    expect(pageWindows({ ...NONE, fromUs: 7 }, "newest", 10)).toEqual([{ fromUs: 7, toUs: undefined }]);
    expect(pageWindows({ ...NONE, fromUs: 70 }, "newest", 10)).toEqual([{ fromUs: 70, toUs: undefined }]);
  });

  test("oldest first: from the start on; a cursor moves the start (or, newest first, the end) to its row", () => {
    expect(pageWindows({ ...NONE, fromUs: 0, toUs: 3 * W }, "oldest", 0)).toEqual([
      { fromUs: 0, toUs: W },
      { fromUs: W, toUs: 3 * W },
    ]);
    expect(pageWindows({ ...NONE, toUs: 3 * W }, "oldest", 0)).toEqual([{ fromUs: undefined, toUs: 3 * W }]);
    expect(pageWindows({ ...NONE, fromUs: 0, toUs: 100 * W }, "oldest", 0, { ts: 50 * W, id: "x" })[0]).toEqual({ fromUs: 50 * W, toUs: 51 * W });
    expect(pageWindows({ ...NONE, fromUs: 0, toUs: 100 * W }, "newest", 0, { ts: 50 * W, id: "x" })[0]).toEqual({ fromUs: 49 * W + 1, toUs: 50 * W + 1 });
  });
});

describe("keysFirst", () => {
  test.each<[string, Partial<SearchFilter>, boolean]>([
    ["no filter", {}, true],
    ["services and levels", { services: ["api"], levels: ["ERROR"] }, true],
    ["a trace id", { traceIds: ["abc"] }, false],
    ["an event id", { eventIds: ["x"] }, false],
    ["service:X level:ERROR", { query: q("service:api level:ERROR") }, true],
    ["a numeric comparison", { query: q("metadata.duration_ms:>500") }, true],
    ["a word", { query: q("timeout") }, false],
    ["a word and a service", { query: q("service:api timeout") }, false],
    ["a word or a service", { query: q("service:api OR timeout") }, true],
    ["a word or a phrase", { query: q('timeout OR "connection refused"') }, false],
    ["not a word", { query: q("NOT timeout") }, true],
    ["trace_id in q", { query: q("trace_id:abc*") }, false],
  ])("%s: %p", (_name, filter, expected) => {
    expect(keysFirst({ ...NONE, ...filter })).toBe(expected);
  });
});
