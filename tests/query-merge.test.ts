// Goal: merging shard replies gives one page newest first (ties by id), at most `limit`
// rows, a next cursor exactly when more rows may exist, and never a row past the cut of
// a truncated shard reply (so paging with the cursor skips nothing); aggregates are
// summed exactly and ordered by count descending.
// Method: hand-built shard replies whose rows are named by (ts, id); pages compared as
// whole lists of "ts/id" plus the cursor; a paging walk over simulated shards that
// checks every row is seen exactly once even when replies are truncated.

import { describe, expect, test } from "bun:test";
import type { StoredEvent } from "../src/protocol/event.ts";
import type { ShardSearchReply } from "../src/protocol/query-messages.ts";
import type { Cursor } from "../src/query/filter.ts";
import { compareNewestFirst, mergeSearch } from "../src/query/merge.ts";
import { aggregateResponse, mergeAggregateRows, type AggregateRow, type AggregateSpec } from "../src/query/aggregate.ts";

function row(timestampUs: number, id: string): StoredEvent {
  return {
    id,
    timestampUs,
    ingestTs: timestampUs,
    tenant: "default",
    level: "INFO",
    service: "api",
    hostname: "h1",
    traceId: "",
    spanId: "",
    message: `event ${timestampUs}/${id}`,
    metadata: "{}",
    seq: 1,
  };
}

function reply(shard: number, rows: StoredEvent[], truncated = false): ShardSearchReply {
  return { ok: true, kind: "search", rows, truncated, shard, tookMs: 1, segmentsTotal: 0, segmentsSkipped: 0, rowsScanned: 0 };
}

/** Rows as "ts/id" strings, the cursor as one too. */
function page(merged: { rows: StoredEvent[]; nextCursor: Cursor | null }): { rows: string[]; next: string | null } {
  return { rows: merged.rows.map((each) => `${each.timestampUs}/${each.id}`), next: merged.nextCursor && `${merged.nextCursor.ts}/${merged.nextCursor.id}` };
}

describe("compareNewestFirst", () => {
  test.each<[[number, string], [number, string], number]>([
    [[2, "a"], [1, "z"], -1],
    [[1, "z"], [2, "a"], 1],
    [[5, "b"], [5, "a"], -1],
    [[5, "a"], [5, "b"], 1],
    [[5, "a"], [5, "a"], 0],
  ])("%p vs %p", ([tsA, idA], [tsB, idB], sign) => {
    expect(Math.sign(compareNewestFirst({ timestampUs: tsA, id: idA }, { timestampUs: tsB, id: idB }))).toBe(sign);
  });
});

describe("mergeSearch ordering and limit", () => {
  test("interleaves shards newest first, ties broken by id descending", () => {
    const merged = mergeSearch(
      [
        reply(0, [row(100, "0a"), row(50, "0c"), row(50, "0a")]),
        reply(1, [row(90, "1a"), row(50, "0b"), row(10, "1b")]),
      ],
      10,
    );
    expect(page(merged)).toEqual({ rows: ["100/0a", "90/1a", "50/0c", "50/0b", "50/0a", "10/1b"], next: null });
  });

  test("shard replies given in any order merge to the same page", () => {
    const a = reply(0, [row(30, "a"), row(10, "a")]);
    const b = reply(1, [row(20, "b")]);
    expect(mergeSearch([a, b], 5)).toEqual(mergeSearch([b, a], 5));
  });

  test("keeps the newest `limit` rows", () => {
    const merged = mergeSearch([reply(0, [row(9, "a"), row(7, "a"), row(5, "a")]), reply(1, [row(8, "b"), row(6, "b"), row(4, "b")])], 4);
    expect(page(merged)).toEqual({ rows: ["9/a", "8/b", "7/a", "6/b"], next: "6/b" });
  });

  test("no replies, or only empty ones: an empty page without a cursor", () => {
    expect(mergeSearch([], 10)).toEqual({ rows: [], nextCursor: null });
    expect(mergeSearch([reply(0, []), reply(1, [])], 10)).toEqual({ rows: [], nextCursor: null });
  });
});

describe("mergeSearch next cursor is present iff more rows may exist", () => {
  const CASES: [string, ShardSearchReply[], number, { rows: string[]; next: string | null }][] = [
    ["every shard answered fewer than limit, all fit", [reply(0, [row(3, "a")]), reply(1, [row(2, "b")])], 5, { rows: ["3/a", "2/b"], next: null }],
    ["merged rows exactly fill the page but no shard hit the limit", [reply(0, [row(3, "a"), row(1, "a")]), reply(1, [row(2, "b")])], 3, { rows: ["3/a", "2/b", "1/a"], next: null }],
    ["a shard answered exactly limit rows: it may hold more", [reply(0, [row(3, "a"), row(1, "a")]), reply(1, [])], 2, { rows: ["3/a", "1/a"], next: "1/a" }],
    ["more rows than the limit", [reply(0, [row(3, "a"), row(1, "a")]), reply(1, [row(2, "b")])], 2, { rows: ["3/a", "2/b"], next: "2/b" }],
    ["a truncated shard, even with few rows", [reply(0, [row(3, "a")], true), reply(1, [])], 10, { rows: ["3/a"], next: "3/a" }],
  ];
  test.each(CASES)("%s", (_what, replies, limit, expected) => {
    expect(page(mergeSearch(replies, limit))).toEqual(expected);
  });

  test("the cursor is the last row of the page", () => {
    const merged = mergeSearch([reply(0, [row(1_767_225_600_000_001, "00ff"), row(1_767_225_600_000_000, "00aa")])], 1);
    expect(merged.nextCursor).toEqual({ ts: 1_767_225_600_000_001, id: "00ff" });
  });
});

describe("mergeSearch with truncated replies", () => {
  test("no row after a truncated shard's last row is returned", () => {
    const merged = mergeSearch([reply(0, [row(100, "a"), row(90, "a")], true), reply(1, [row(95, "b"), row(85, "b"), row(80, "b")])], 10);
    expect(page(merged)).toEqual({ rows: ["100/a", "95/b", "90/a"], next: "90/a" });
  });

  test("with several truncated shards, the page ends at the earliest cut (the newest last row)", () => {
    const merged = mergeSearch(
      [
        reply(0, [row(100, "a"), row(70, "a")], true),
        reply(1, [row(99, "b"), row(90, "b")], true),
        reply(2, [row(95, "c"), row(80, "c"), row(60, "c")]),
      ],
      10,
    );
    expect(page(merged)).toEqual({ rows: ["100/a", "99/b", "95/c", "90/b"], next: "90/b" });
  });

  test("a row with the cut's timestamp is kept only if it sorts before the cut row (id tie-break)", () => {
    const merged = mergeSearch([reply(0, [row(50, "m")], true), reply(1, [row(50, "z"), row(50, "a")])], 10);
    expect(page(merged)).toEqual({ rows: ["50/z", "50/m"], next: "50/m" });
  });

  test("the limit still applies before the cut", () => {
    const merged = mergeSearch([reply(0, [row(100, "a"), row(10, "a")], true), reply(1, [row(99, "b"), row(98, "b"), row(97, "b")])], 2);
    expect(page(merged)).toEqual({ rows: ["100/a", "99/b"], next: "99/b" });
  });

  // A paging walk: shards hold fixed rows; each answers at most `limit` rows after the
  // cursor and truncates at `budget` rows (a stand-in for the byte budget). Following
  // the cursor must return every row exactly once, newest first.
  test.each<[string, number, number[]]>([
    ["no truncation", 4, [100, 100, 100]],
    ["one shard truncating to 1 row", 4, [1, 100, 100]],
    ["every shard truncating", 5, [2, 1, 3]],
    ["limit 1", 1, [1, 1, 1]],
  ])("paging with the cursor returns every row exactly once (%s)", (_what, limit, budgets) => {
    const shards = budgets.map((_, shard) => Array.from({ length: 9 }, (_, index) => row(1000 - ((index * 7 + shard * 3) % 40) * 10, `${shard}${index}`)).sort(compareNewestFirst));
    const expected = shards.flat().sort(compareNewestFirst).map((each) => `${each.timestampUs}/${each.id}`);
    const seen: string[] = [];
    let cursor: Cursor | null = null;
    for (let pageNumber = 0; pageNumber < 100; pageNumber++) {
      const after: Cursor | null = cursor;
      const replies = shards.map((rows, shard) => {
        const eligible = rows.filter((each) => !after || each.timestampUs < after.ts || (each.timestampUs === after.ts && each.id < after.id)).slice(0, limit);
        const kept = eligible.slice(0, budgets[shard]);
        return reply(shard, kept, kept.length < eligible.length);
      });
      const merged = mergeSearch(replies, limit);
      seen.push(...page(merged).rows);
      cursor = merged.nextCursor;
      if (!cursor) break;
    }
    expect(seen).toEqual(expected);
  });
});

describe("aggregate merge, seed shape", () => {
  const SPEC: AggregateSpec = { groupBy: [{ name: "service" }], functions: [] };
  function aggregate(groups: [string, number][], overflow = false): { rows: AggregateRow[]; overflow: boolean } {
    return { rows: groups.map(([key, n]) => ({ key: [key], n, f: [] })), overflow };
  }
  const merge = (...shards: { rows: AggregateRow[]; overflow: boolean }[]) => aggregateResponse(SPEC, mergeAggregateRows(SPEC, shards));

  test("sums counts across shards exactly and orders by count descending", () => {
    const merged = merge(aggregate([["api", 5], ["web", 3], ["worker", 1]]), aggregate([["web", 4], ["db", 2]]), aggregate([["worker", 9]]));
    expect(merged.aggregations).toEqual({ worker: 10, web: 7, api: 5, db: 2 });
    expect(Object.entries(merged.aggregations as object)).toEqual([
      ["worker", 10],
      ["web", 7],
      ["api", 5],
      ["db", 2],
    ]);
    expect(merged.buckets).toEqual([
      { service: "worker", count: 10 },
      { service: "web", count: 7 },
      { service: "api", count: 5 },
      { service: "db", count: 2 },
    ]);
  });

  test("large counts are summed without rounding", () => {
    expect(merge(aggregate([["api", 4_503_599_627_370_495]]), aggregate([["api", 4_503_599_627_370_496]])).aggregations).toEqual({ api: 9_007_199_254_740_991 });
  });

  test("equal counts are ordered by key", () => {
    expect(Object.keys(merge(aggregate([["c", 2], ["a", 2]]), aggregate([["b", 2]])).aggregations as object)).toEqual(["a", "b", "c"]);
  });

  test("overflow from any shard is reported", () => {
    expect(merge(aggregate([["a", 1]]), aggregate([["a", 1]], true))).toEqual({ aggregations: { a: 2 }, group_by: "service", buckets: [{ service: "a", count: 2 }], overflow: true });
  });

  test("no replies: no groups", () => {
    expect(merge()).toEqual({ aggregations: {}, group_by: "service", buckets: [], overflow: false });
  });

  // A JSON object enumerates integer-like keys ("404", "7") first whatever the insertion
  // order, so the seed-shaped `aggregations` cannot keep count order for them; `buckets`
  // is a list and does.
  test("order by count holds in buckets for keys that look like integers", () => {
    const merged = merge(aggregate([["web", 10], ["404", 5], ["7", 1]]));
    expect((merged.buckets as { service: string }[]).map((bucket) => bucket.service)).toEqual(["web", "404", "7"]);
  });
});

describe("mergeSearch oldest first", () => {
  test("rows come oldest first (ties by id ascending), and a truncated reply cuts the page at its last row", () => {
    const merged = mergeSearch(
      [
        reply(0, [row(1, "a"), row(3, "a"), row(5, "a")], true),
        reply(1, [row(1, "b"), row(2, "a"), row(6, "a")]),
      ],
      10,
      "oldest",
    );
    expect(page(merged)).toEqual({ rows: ["1/a", "1/b", "2/a", "3/a", "5/a"], next: "5/a" });
  });

  test("a full page without truncation has a cursor at its last row", () => {
    const merged = mergeSearch([reply(0, [row(2, "a"), row(4, "a")]), reply(1, [row(3, "a")])], 2, "oldest");
    expect(page(merged)).toEqual({ rows: ["2/a", "3/a"], next: "3/a" });
  });
});
