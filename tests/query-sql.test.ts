// Goal: the shard query SQL carries every user value as a bound parameter and none in
// its text; LIKE wildcards in search terms match literally; memtable names are checked
// before they are inlined; search and aggregate statements have the expected shape.
// Method: property-style tables of hostile inputs placed in every user-controlled slot
// (tenant, services, hostnames, trace ids, terms, cursor id), asserting the SQL text is
// the same as for harmless values of the same shape and does not contain the input,
// while the params do; whole-string comparisons of the generated statements.

import { describe, expect, test } from "bun:test";
import type { Cursor, SearchFilter } from "../src/query/filter.ts";
import { AGGREGATE_GROUPS_MAX } from "../src/query/limits.ts";
import { aggregateSql, searchSql, sourceSql, whereSql } from "../src/query/sql.ts";
import { wordsPatternRe2 } from "../src/query/words.ts";
import { COLUMN_NAMES } from "../src/storage/schema.ts";

const EMPTY_FILTER: SearchFilter = { services: [], levels: [], hostnames: [], traceIds: [], query: null };

/** A query of message words, as the parser builds it for `w1 w2 …`. */
function words(...values: string[]): SearchFilter["query"] {
  return values.length === 1 ? { type: "text", value: values[0] } : { type: "and", children: values.map((value) => ({ type: "text", value })) };
}

const HOSTILE_INPUTS = [
  "'; DROP TABLE x; --",
  "/etc/passwd",
  "%_\\",
  "read_csv('/etc/passwd')",
  "' OR '1'='1",
  "x' UNION ALL SELECT * FROM read_text('/etc/shadow') --",
  '"; ATTACH \'evil.db\' AS e; --',
  "mem_s0_1",
  "ünïcödé \u0000 null",
  "Robert'); DELETE FROM logs;--",
];

/** A filter and cursor with `value` in every slot that takes user text. */
function filterWith(value: string): { filter: SearchFilter; cursor: Cursor } {
  return {
    filter: { services: [value, `${value}-2`], levels: ["ERROR"], hostnames: [value], traceIds: [value], query: words(value, "plain"), fromUs: 1, toUs: 2 },
    cursor: { ts: 3, id: CURSOR_ID },
  };
}

/** A valid id: ingest time 0x660cec46abf00 µs, stream sequence 12, index 3. Cursor ids are checked when decoded, then bound as numbers. */
const CURSOR_ID = "660cec46abf00" + "00000000000c" + "00003";
const CURSOR_PARAMS = [3, 0x660cec46abf00, 12, 3];

describe("whereSql keeps user values out of the SQL text", () => {
  const harmless = filterWith("harmless");
  const harmlessSql = whereSql("harmless", harmless.filter, harmless.cursor).sql;

  test.each(HOSTILE_INPUTS)("%p travels only as a parameter", (input) => {
    const { filter, cursor } = filterWith(input);
    const where = whereSql(input, filter, cursor);
    expect(where.sql).toBe(harmlessSql);
    expect(where.sql).not.toContain(input);
    const lower = input.toLowerCase();
    expect(where.params).toEqual([input, 1, 2, input, `${input}-2`, 4, input, input, lower, wordsPatternRe2(lower), "plain", wordsPatternRe2("plain"), ...CURSOR_PARAMS]);
  });

  test("the SQL text has a placeholder for every parameter, first used in order", () => {
    const { filter, cursor } = filterWith("x");
    const where = whereSql("tenant", filter, cursor);
    // A value used twice (the cursor's time) is bound once and its placeholder repeated.
    const placeholders = [...new Set([...where.sql.matchAll(/\$(\d+)/g)].map((match) => Number(match[1])))];
    expect(placeholders).toEqual(where.params.map((_, index) => index + 1));
  });
});

describe("whereSql shape", () => {
  test("tenant only", () => {
    expect(whereSql("acme", EMPTY_FILTER)).toEqual({ sql: "tenant = $1", params: ["acme"] });
  });

  test("every clause, single values as =, several as IN, levels as their indices", () => {
    const filter: SearchFilter = {
      services: ["api"],
      levels: ["WARN", "ERROR"],
      hostnames: ["h1", "h2"],
      traceIds: ["t1"],
      query: words("50%_off", "a\\b"),
      fromUs: 10,
      toUs: 20,
    };
    expect(whereSql("acme", filter, { ts: 15, id: CURSOR_ID })).toEqual({
      sql:
        "tenant = $1 AND ts >= $2 AND ts < $3 AND service = $4 AND level IN ($5, $6) AND hostname IN ($7, $8) AND trace_id = $9" +
        " AND ((contains(lower(message), $10) AND regexp_matches(lower(message), $11)) AND (contains(lower(message), $12) AND regexp_matches(lower(message), $13)))" +
        " AND (ts < $14 OR (ts = $14 AND (ingest_ts < $15 OR (ingest_ts = $15 AND (seq < $16 OR (seq = $16 AND idx < $17))))))",
      params: ["acme", 10, 20, "api", 3, 4, "h1", "h2", "t1", "50%_off", "(^|[^\\pL\\pN_])50\\x{25}_off([^\\pL\\pN_]|$)", "a\\b", "(^|[^\\pL\\pN_])a\\x{5c}b([^\\pL\\pN_]|$)", 15, 0x660cec46abf00, 12, 3],
    });
  });

  test("fromUs 0 is a bound, not a missing one", () => {
    expect(whereSql("t", { ...EMPTY_FILTER, fromUs: 0 })).toEqual({ sql: "tenant = $1 AND ts >= $2", params: ["t", 0] });
  });

  test.each<[SearchFilter["levels"], string, number[]]>([
    [["TRACE"], "level = $2", [0]],
    [["FATAL"], "level = $2", [5]],
    [["DEBUG", "INFO"], "level IN ($2, $3)", [1, 2]],
  ])("levels %p bind as %s", (levels, clause, indices) => {
    expect(whereSql("t", { ...EMPTY_FILTER, levels })).toEqual({ sql: `tenant = $1 AND ${clause}`, params: ["t", ...indices] });
  });
});

describe("sourceSql", () => {
  test("null when there is nothing to read", () => {
    expect(sourceSql([], [])).toBeNull();
  });

  test("memtable parts and segments in one UNION ALL", () => {
    expect(sourceSql(["'/data/tmp/shard-000.mem-1-1.parquet'", "'/data/tmp/shard-012.mem-1-345.parquet'"], [{ literal: "'/data/a.parquet'", ranges: null }, { literal: "'/data/b.parquet'", ranges: null }])).toBe(
      `SELECT ${COLUMN_NAMES} FROM read_parquet(['/data/tmp/shard-000.mem-1-1.parquet', '/data/tmp/shard-012.mem-1-345.parquet']) UNION ALL SELECT ${COLUMN_NAMES} FROM read_parquet(['/data/a.parquet', '/data/b.parquet'])`,
    );
  });

  test("segments alone", () => {
    expect(sourceSql([], [{ literal: "'/data/a.parquet'", ranges: null }])).toBe(`SELECT ${COLUMN_NAMES} FROM read_parquet(['/data/a.parquet'])`);
  });

  test("memtable parts alone", () => {
    expect(sourceSql(["'/data/tmp/shard-003.mem-9-7.parquet'"], [])).toBe(`SELECT ${COLUMN_NAMES} FROM read_parquet(['/data/tmp/shard-003.mem-9-7.parquet'])`);
  });

  test.each([
    "mem_s0_1",
    "'/data/x.parquet'; DROP TABLE x",
    "'/data/x.parquet']) UNION ALL SELECT * FROM read_text(['/etc/shadow'",
    "'/data/x'.parquet'",
    "'data/x.parquet'",
    "'/data/x.csv'",
    "'/data/x.parquet' ",
    "'/data/x\n.parquet'",
    "'/data/x\\.parquet'",
    "read_csv('/etc/passwd')",
    "",
  ])("rejects the memtable part %p", (part) => {
    expect(() => sourceSql(["'/data/tmp/shard-000.mem-1-1.parquet'", part], [])).toThrow(`invalid memtable part ${JSON.stringify(part)}`);
  });
});

describe("searchSql and aggregateSql", () => {
  const source = "SELECT 1";
  const where = { sql: "tenant = $1", params: ["acme"] };

  test("search: newest first with id tie-break, limited, params passed through", () => {
    expect(searchSql(source, where, 50)).toEqual({
      sql: `SELECT ${COLUMN_NAMES} FROM (SELECT 1) WHERE tenant = $1 ORDER BY ts DESC, ingest_ts DESC, seq DESC, idx DESC LIMIT 50`,
      params: ["acme"],
    });
  });

  test("search: a fractional limit is truncated to an integer", () => {
    expect(searchSql(source, where, 7.9).sql).toEndWith(" LIMIT 7");
  });

  test("aggregate: the select list of the spec, grouped, largest first, one group past the limit", () => {
    expect(aggregateSql(source, where, { groupBy: [{ name: "service" }], functions: [] })).toEqual({
      sql: `SELECT service AS g0, count(*) AS n FROM (SELECT 1) WHERE tenant = $1 GROUP BY ALL ORDER BY n DESC LIMIT ${AGGREGATE_GROUPS_MAX + 1}`,
      params: ["acme"],
    });
  });

  test("search: a projection reads the ordering columns and the named ones only", () => {
    expect(searchSql(source, where, 5, "oldest", ["message", "ts"]).sql).toBe("SELECT ts, ingest_ts, seq, idx, message FROM (SELECT 1) WHERE tenant = $1 ORDER BY ts, ingest_ts, seq, idx LIMIT 5");
    expect(() => searchSql(source, where, 5, "oldest", ["message; DROP"])).toThrow("unknown column");
  });
});
