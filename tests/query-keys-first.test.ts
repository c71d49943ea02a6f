// Goal: a broad search's two steps (keys-first.ts: ordering columns first, then whole
// rows at or past the page's last row) give exactly the page one step gives, in both
// orders, with ties at the bound, a cursor and a time range; and only broad searches
// take them.
// Method: simulated shards answering a search as a shard does (filter by range and
// cursor, sort, limit); pages merged with mergeSearch, compared row for row.

import { describe, expect, test } from "bun:test";
import type { StoredEvent } from "../src/protocol/event.ts";
import type { ShardSearchReply } from "../src/protocol/query-messages.ts";
import type { Cursor, SearchFilter, SearchOrder } from "../src/query/filter.ts";
import { keysFirst, narrowToPage } from "../src/query/keys-first.ts";
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

describe("narrowToPage", () => {
  test("one step and two steps give the same page and the same cursor, page after page, in both orders", () => {
    const draw = new Draw(seeded(5));
    for (let round = 0; round < 300; round++) {
      // Few distinct times, so ties at the page's last time are common.
      const shards = Array.from({ length: 1 + draw.int(6) }, (_, shard) => Array.from({ length: draw.int(60) }, (_, index) => event(draw.int(40), `${shard}-${String(index).padStart(3, "0")}`)));
      const order: SearchOrder = draw.chance(0.5) ? "newest" : "oldest";
      const limit = 1 + draw.int(15);
      const filter: SearchFilter = { ...NONE, fromUs: draw.chance(0.5) ? draw.int(10) : undefined, toUs: draw.chance(0.5) ? 30 + draw.int(10) : undefined };
      let cursor: Cursor | undefined;
      for (let pageNumber = 0; pageNumber < 30; pageNumber++) {
        const one = mergeSearch(shards.map((rows, shard) => shardSearch(shard, rows, filter, order, limit, cursor)), limit, order);
        const keys = mergeSearch(shards.map((rows, shard) => shardSearch(shard, rows, filter, order, limit, cursor)), limit, order);
        const last = keys.rows[keys.rows.length - 1];
        if (!last) {
          expect(one.rows).toEqual([]);
          break;
        }
        const narrowed = narrowToPage(filter, order, last.timestampUs);
        const two = mergeSearch(shards.map((rows, shard) => shardSearch(shard, rows, narrowed, order, limit, cursor)), limit, order);
        expect(two.rows.map((row) => row.id)).toEqual(one.rows.map((row) => row.id));
        expect(Boolean(keys.nextCursor)).toBe(Boolean(one.nextCursor));
        if (!one.nextCursor) break;
        cursor = one.nextCursor;
      }
    }
  });

  test("newest first raises from to the last row's time; oldest first lowers to just past it; the other bound stays", () => {
    expect(narrowToPage({ ...NONE, fromUs: 5, toUs: 50 }, "newest", 20)).toMatchObject({ fromUs: 20, toUs: 50 });
    expect(narrowToPage({ ...NONE, fromUs: 30, toUs: 50 }, "newest", 20)).toMatchObject({ fromUs: 30, toUs: 50 });
    expect(narrowToPage({ ...NONE }, "newest", 20)).toEqual({ ...NONE, fromUs: 20 });
    expect(narrowToPage({ ...NONE, fromUs: 5, toUs: 50 }, "oldest", 20)).toMatchObject({ fromUs: 5, toUs: 21 });
    expect(narrowToPage({ ...NONE, toUs: 10 }, "oldest", 20)).toMatchObject({ toUs: 10 });
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
