// Goal: MinuteCounts sums exactly what was added, per (service, level, bucket), over
// any range of whole minutes and any bucket width, using hourly and 10-minute roll-ups
// where whole units fit and minutes elsewhere; each group is visited once; tenants
// stay apart; past its entry bound it overflows and drops its counts; a 24 h sum over
// a full shard (1,440 minutes x 500 series) is exact. minuteCountsSql
// floors timestamps to minutes exactly, before 1970 too, and a reopen's counts read by
// series id add up to the same counts as its rows.
// Method: pure tests against a naive reference (a list of every add, summed by brute
// force) over seeded pseudo-random adds and ranges; the SQL runs on a real DuckDB.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Duck, queryRows } from "../src/storage/duckdb.ts";
import { addSeriesCountsResult, MinuteCounts, minuteCountsBySeriesSql, minuteCountsSql, minuteSeriesSql, perSeries } from "../src/storage/minute-counts.ts";
import { tempDir } from "./helpers/processes.ts";
import { addMinuteCountsResult, sumSeries } from "./helpers/minute-counts.ts";

interface Add {
  minute: number;
  tenant: string;
  service: string;
  level: number;
  count: number;
}

type Group = [service: string, level: number, bucket: number, count: number];

/** Park-Miller: the same adds every run. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => (state = (state * 48271) % 0x7fffffff) / 0x7fffffff;
}

function sortGroups(groups: Group[]): Group[] {
  return groups.sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1] || a[2] - b[2]);
}

/** What sum must visit, by brute force over every add. */
function reference(adds: readonly Add[], tenant: string, fromMinute: number, toMinute: number, bucketMinutes: number | null): Group[] {
  const groups = new Map<string, Group>();
  for (const add of adds) {
    if (add.tenant !== tenant || add.minute < fromMinute || add.minute >= toMinute) continue;
    const bucket = bucketMinutes === null ? -1 : Math.floor(add.minute / bucketMinutes) * bucketMinutes;
    const key = JSON.stringify([add.service, add.level, bucket]);
    const group = groups.get(key) ?? [add.service, add.level, bucket, 0];
    group[3] += add.count;
    groups.set(key, group);
  }
  return sortGroups([...groups.values()]);
}

/** What sum visits; fails on a group visited twice. */
function summed(counts: MinuteCounts, tenant: string, fromMinute: number, toMinute: number, bucketMinutes: number | null): Group[] {
  const groups: Group[] = [];
  const seen = new Set<string>();
  sumSeries(counts, tenant, fromMinute, toMinute, bucketMinutes, (service, level, bucket, count) => {
    const key = JSON.stringify([service, level, bucket]);
    if (seen.has(key)) throw new Error(`group ${key} visited twice`);
    seen.add(key);
    groups.push([service, level, bucket, count]);
  });
  return sortGroups(groups);
}

/** Adds spread over ~3 days around `baseMinute` (some before 1970 when it is near 0), three tenants, 40 services. */
function randomAdds(random: () => number, count: number, baseMinute: number): Add[] {
  return Array.from({ length: count }, () => ({
    minute: baseMinute + Math.floor(random() * 3 * 1440) - 1440,
    tenant: ["default", "acme", "other"][Math.floor(random() * 3)],
    service: `service-${Math.floor(random() * 40)}`,
    level: Math.floor(random() * 6),
    count: 1 + Math.floor(random() * 1000),
  }));
}

const NOW_MINUTE = 29_400_000; // late 2025

describe("MinuteCounts.sum", () => {
  const BUCKETS: (number | null)[] = [null, 1, 5, 7, 60, 90, 120, 1440];

  test.each(BUCKETS)("agrees with brute force over random ranges, bucket %p minutes", (bucketMinutes) => {
    const random = seeded(7 + (bucketMinutes ?? 0));
    const adds = randomAdds(random, 20_000, NOW_MINUTE);
    const counts = new MinuteCounts();
    // Added in several batches with sums in between, as flushes and dashboards interleave.
    for (let start = 0; start < adds.length; start += 3_000) {
      for (const add of adds.slice(start, start + 3_000)) counts.add(add.minute, add.tenant, add.service, add.level, add.count);
      expect(summed(counts, "default", NOW_MINUTE - 60, NOW_MINUTE + 60, bucketMinutes)).toEqual(reference(adds.slice(0, start + 3_000), "default", NOW_MINUTE - 60, NOW_MINUTE + 60, bucketMinutes));
    }
    const ranges: [number, number][] = [
      [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
      [NOW_MINUTE - 1440, NOW_MINUTE],
      [NOW_MINUTE - 1440 + 17, NOW_MINUTE + 3],
      [NOW_MINUTE, NOW_MINUTE + 1],
      [NOW_MINUTE + 59, NOW_MINUTE + 61],
      [NOW_MINUTE + 5, NOW_MINUTE + 5],
      [NOW_MINUTE + 5, NOW_MINUTE - 5],
    ];
    for (let index = 0; index < 20; index++) {
      const from = NOW_MINUTE - 1600 + Math.floor(random() * 3000);
      ranges.push([from, from + Math.floor(random() * 2000)]);
    }
    for (const tenant of ["default", "acme", "absent"]) {
      for (const [from, to] of ranges) expect({ tenant, from, to, groups: summed(counts, tenant, from, to, bucketMinutes) }).toEqual({ tenant, from, to, groups: reference(adds, tenant, from, to, bucketMinutes) });
    }
  });

  test.each(BUCKETS)("sumGroups folds series into the caller's groups and leaves out -1, bucket %p minutes", (bucketMinutes) => {
    const random = seeded(11 + (bucketMinutes ?? 0));
    const adds = randomAdds(random, 20_000, NOW_MINUTE);
    const counts = new MinuteCounts();
    for (const add of adds) counts.add(add.minute, add.tenant, add.service, add.level, add.count);
    // Group by level only, leaving out service-0..9: what a `level` histogram filtered by service asks.
    const groupOf = (service: string, level: number) => (Number(service.slice("service-".length)) < 10 ? -1 : level);
    for (const [from, to] of [
      [NOW_MINUTE - 1440 + 17, NOW_MINUTE + 3],
      [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    ]) {
      const expected = new Map<string, number>();
      for (const [service, level, bucket, count] of reference(adds, "default", from, to, bucketMinutes)) {
        if (groupOf(service, level) < 0) continue;
        const key = `${level}/${bucket}`;
        expected.set(key, (expected.get(key) ?? 0) + count);
      }
      const got = new Map<string, number>();
      counts.sumGroups("default", from, to, bucketMinutes, perSeries(groupOf), (group, bucket, count) => {
        const key = `${group}/${bucket}`;
        if (got.has(key)) throw new Error(`group ${key} visited twice`);
        got.set(key, count);
      });
      expect([...got].sort()).toEqual([...expected].sort());
    }
  });

  test("adds spread over ages (past the packed sort's safe integers) and adds through series refs sum as plain adds do", () => {
    const random = seeded(11);
    // Minutes from 1970 back and ahead by ~2^40: a batch's (unit, id, index) no longer packs into one safe integer.
    const adds = randomAdds(random, 5_000, NOW_MINUTE).map((add, index) => (index % 3 === 0 ? { ...add, minute: add.minute + (index % 2 ? 1 : -1) * 2 ** 40 } : add));
    const plain = new MinuteCounts();
    const byRef = new MinuteCounts();
    for (const add of adds) {
      plain.add(add.minute, add.tenant, add.service, add.level, add.count);
      byRef.addTo(byRef.series(add.tenant, add.service, add.level), add.minute, add.count);
    }
    for (const tenant of ["default", "acme"]) {
      for (const [from, to] of [[Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], [NOW_MINUTE - 100, NOW_MINUTE + 100], [-(2 ** 41), 0]] as [number, number][]) {
        const expected = reference(adds, tenant, from, to, 60);
        expect(summed(plain, tenant, from, to, 60)).toEqual(expected);
        expect(summed(byRef, tenant, from, to, 60)).toEqual(expected);
      }
    }
    expect(byRef.entries).toBe(plain.entries);
  });

  test("minutes before 1970 fall in the right minute, hour and bucket", () => {
    const random = seeded(99);
    const adds = randomAdds(random, 5_000, 0);
    const counts = new MinuteCounts();
    for (const add of adds) counts.add(add.minute, add.tenant, add.service, add.level, add.count);
    for (const bucketMinutes of [null, 1, 60, 90]) {
      for (const [from, to] of [
        [-1440, 1440],
        [-61, 61],
        [-60, 0],
        [-1, 0],
        [-125, 17],
      ]) {
        expect(summed(counts, "acme", from, to, bucketMinutes)).toEqual(reference(adds, "acme", from, to, bucketMinutes));
      }
    }
  });

  test("repeated adds of one series and minute sum into one entry per minute, per 10 minutes and per hour", () => {
    const counts = new MinuteCounts();
    for (let index = 0; index < 100; index++) counts.add(NOW_MINUTE + (index % 2), "default", "api", 2, 3);
    expect(counts.entries).toBe(4); // two minutes, one ten-minute unit, one hour (NOW_MINUTE starts an hour)
    expect(summed(counts, "default", Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, null)).toEqual([["api", 2, -1, 300]]);
    expect(summed(counts, "default", NOW_MINUTE, NOW_MINUTE + 2, 1)).toEqual([
      ["api", 2, NOW_MINUTE, 150],
      ["api", 2, NOW_MINUTE + 1, 150],
    ]);
  });

  test.each<[string, () => void]>([
    ["a level past FATAL", () => new MinuteCounts().add(NOW_MINUTE, "default", "api", 6, 1)],
    ["a count of zero", () => new MinuteCounts().add(NOW_MINUTE, "default", "api", 1, 0)],
    ["a fractional minute", () => new MinuteCounts().add(NOW_MINUTE + 0.5, "default", "api", 1, 1)],
    ["a bucket of zero minutes", () => sumSeries(new MinuteCounts(), "default", 0, 1, 0, () => undefined)],
  ])("refuses %s", (_what, call) => {
    expect(call).toThrow();
  });
});

describe("the entry bound", () => {
  test("past it the counts overflow, are dropped, and further adds are ignored", () => {
    const counts = new MinuteCounts(100);
    // 30 series in one minute: 30 entries each for the minute, its 10 minutes and its hour.
    for (let series = 0; series < 30; series++) counts.add(NOW_MINUTE, "default", `service-${series}`, 2, 1);
    expect({ entries: counts.entries, overflowed: counts.overflowed }).toEqual({ entries: 90, overflowed: false });
    // 10 of them in the next minute of the same 10 minutes: 10 more minute entries, 100 in all, still within the bound.
    for (let series = 0; series < 10; series++) counts.add(NOW_MINUTE + 1, "default", `service-${series}`, 2, 1);
    expect({ entries: counts.entries, overflowed: counts.overflowed }).toEqual({ entries: 100, overflowed: false });
    counts.add(NOW_MINUTE + 2, "default", "service-0", 2, 1); // one more minute entry: 101
    expect({ entries: counts.entries, overflowed: counts.overflowed }).toEqual({ entries: 0, overflowed: true });
    counts.add(NOW_MINUTE + 3, "default", "service-0", 2, 1);
    expect({ entries: counts.entries, overflowed: counts.overflowed }).toEqual({ entries: 0, overflowed: true });
    expect(() => sumSeries(counts, "default", 0, Number.MAX_SAFE_INTEGER, null, () => undefined)).toThrow(/overflowed/);
  });
});

describe("roll-ups at scale", () => {
  test("a 24 h sum over 1,440 minutes x 500 series gives every series its exact total", () => {
    const counts = new MinuteCounts();
    // 84 services x 6 levels, 500 of those series.
    const services = Array.from({ length: 84 }, (_, index) => `service-${index}`);
    const end = NOW_MINUTE + 17; // not on an hour or 10 minutes: both ends have partial units
    for (let minute = end - 1440; minute < end; minute++) {
      for (let series = 0; series < 500; series++) counts.add(minute, "default", services[Math.floor(series / 6)], series % 6, 1 + (series % 7));
    }
    // 1,440 minutes, 145 ten-minute units and 25 hours touched, each holding every series.
    expect(counts.entries).toBe((1440 + 145 + 25) * 500);
    let groups = 0;
    let total = 0;
    sumSeries(counts, "default", end - 1440, end, null, (_service, _level, _bucket, count) => {
      groups++;
      total += count;
    });
    expect(groups).toBe(500);
    expect(total).toBe(1440 * [...Array(500).keys()].reduce((sum, series) => sum + 1 + (series % 7), 0));
  });
});

describe("minuteCountsSql", () => {
  const root = tempDir("minute-counts");
  let duck: Duck;
  beforeAll(async () => {
    duck = await Duck.open({ dataDir: root.path, memoryLimit: "256MB", threads: 1 });
  });
  afterAll(() => {
    duck?.close();
    root.remove();
  });

  test("floors timestamps to whole minutes toward minus infinity, and counts by tenant, service and level", async () => {
    const minuteUs = 60_000_000;
    const timestamps = [0, 1, minuteUs - 1, minuteUs, -1, -minuteUs, -minuteUs - 1, NOW_MINUTE * minuteUs - 1, NOW_MINUTE * minuteUs, 4_102_444_800_000_000];
    const values = timestamps.map((ts, index) => `(${ts}::BIGINT, '${index % 2 ? "acme" : "default"}', 'api', ${index % 3}::UTINYINT)`).join(", ");
    const connection = await duck.connect();
    try {
      const rows = await queryRows(connection, `${minuteCountsSql(`(SELECT * FROM (VALUES ${values}) AS t(ts, tenant, service, level))`)} ORDER BY ALL`);
      const expected = new Map<string, { minute: number; tenant: string; service: string; level: number; count: number }>();
      timestamps.forEach((ts, index) => {
        const row = { minute: Math.floor(ts / minuteUs), tenant: index % 2 ? "acme" : "default", service: "api", level: index % 3 };
        const key = JSON.stringify(row);
        expected.set(key, { ...row, count: (expected.get(key)?.count ?? 0) + 1 });
      });
      const order = (row: { minute: number; tenant: string; level: number }) => JSON.stringify([row.minute, row.tenant, row.level]);
      const sorted = <T extends { minute: number; tenant: string; level: number }>(rows: T[]) => rows.sort((a, b) => order(a).localeCompare(order(b)));
      expect(sorted(rows.map((row) => ({ minute: Number(row.minute), tenant: String(row.tenant), service: String(row.service), level: Number(row.level), count: Number(row.count) })))).toEqual(sorted([...expected.values()]));
    } finally {
      connection.closeSync();
    }
  });

  test("a reopen's counts by series id (numbers only) add up exactly as the rows of minuteCountsSql do", async () => {
    const random = seeded(23);
    const minuteUs = 60_000_000;
    const rows = Array.from({ length: 3_000 }, (_, index) => {
      const minute = NOW_MINUTE - 200 + Math.floor(random() * 400) - (index % 50 === 0 ? 30_000_000 : 0);
      return `(${minute * minuteUs + Math.floor(random() * minuteUs)}::BIGINT, '${index % 4 === 0 ? "acme" : "default"}', 'svc-${Math.floor(random() * 30)}${index % 7 === 0 ? " ü'' x" : ""}', ${Math.floor(random() * 6)}::UTINYINT)`;
    });
    const source = `(SELECT * FROM (VALUES ${rows.join(", ")}) AS t(ts, tenant, service, level))`;
    const connection = await duck.connect();
    try {
      const fromRows = new MinuteCounts();
      addMinuteCountsResult(fromRows, await connection.run(minuteCountsSql(source)));
      await connection.run(`CREATE TEMP TABLE counted AS ${minuteCountsSql(source)}`);
      await connection.run(`CREATE TEMP TABLE counted_series AS ${minuteSeriesSql("counted")}`);
      const series = (await queryRows(connection, "SELECT tenant, service, level FROM counted_series ORDER BY sid")).map((row) => ({ tenant: String(row.tenant), service: String(row.service), level: Number(row.level) }));
      const bySeries = new MinuteCounts();
      addSeriesCountsResult(bySeries, series, await connection.run(minuteCountsBySeriesSql("counted", "counted_series")));
      expect(bySeries.entries).toBe(fromRows.entries);
      for (const tenant of ["default", "acme"]) {
        for (const bucket of [null, 1, 60]) expect(summed(bySeries, tenant, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, bucket)).toEqual(summed(fromRows, tenant, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, bucket));
      }
    } finally {
      connection.closeSync();
    }
  });
});
