// Goal: the one parser of search parameters turns URLSearchParams into a SearchFilter,
// a SearchRequest and a group-by field, with every limit enforced and every rejection a
// QueryError (status 400) whose message names the parameter and the offending value.
// Method: tables of query strings, each compared whole against the expected filter or
// against the expected error (class, code, status and message); cursors are round-
// tripped and a table of foreign cursors is rejected.

import { describe, expect, test } from "bun:test";
import { LEVELS } from "../src/protocol/event.ts";
import {
  QueryError,
  decodeCursor,
  encodeCursor,
  parseFilter,
  parseSearchRequest,
  parseQueryParam,
  type SearchFilter,
} from "../src/query/filter.ts";
import { FILTER_VALUES_MAX, SEARCH_LIMIT_DEFAULT, SEARCH_LIMIT_MAX } from "../src/query/limits.ts";

/** What fn threw, as a comparable object. */
function thrown(fn: () => unknown): { error: string; code: unknown; status: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as QueryError).code, status: (error as QueryError).status, message: (error as Error).message };
  }
  throw new Error("expected a throw");
}

function queryError(code: QueryError["code"], message: string) {
  return { error: "QueryError", code, status: 400, message };
}

const EMPTY_FILTER: SearchFilter = { services: [], levels: [], hostnames: [], traceIds: [], query: null, fromUs: undefined, toUs: undefined };

function filterOf(query: string): SearchFilter {
  return parseFilter(new URLSearchParams(query));
}

describe("parseQueryParam (q through the query language; the language itself is in query-language.test.ts)", () => {
  test.each<[string, SearchFilter["query"]]>([
    ["", null],
    ["   ", null],
    ["error", { type: "text", value: "error" }],
    ["error timeout", { type: "and", children: [{ type: "text", value: "error" }, { type: "text", value: "timeout" }] }],
    ['"connection refused" host-1', { type: "and", children: [{ type: "text", value: "connection refused" }, { type: "text", value: "host-1" }] }],
    ["ünïcödé 日本", { type: "and", children: [{ type: "text", value: "ünïcödé" }, { type: "text", value: "日本" }] }],
  ])("%p", (q, query) => {
    expect(parseQueryParam(q)).toEqual(query);
  });

  test("a syntax error is a bad_query naming the position and what was expected", () => {
    const error = thrown(() => parseQueryParam('error "conn'));
    expect(error).toEqual(queryError("bad_query", "q: expected a closing quote at position 7, found the end of the query (unclosed quote)"));
  });

  // Any whitespace separates terms (a regression: \r once made the parser loop forever).
  test.each(["a\rb", "a\vb", "a\fb", "a\u00a0b", "a\u2028b", "a\u3000b", "a \r\n b"])("whitespace %j separates terms", (q) => {
    expect(parseQueryParam(q)).toEqual({ type: "and", children: [{ type: "text", value: "a" }, { type: "text", value: "b" }] });
  });
});

describe("parseFilter", () => {
  test("no parameters: the empty filter", () => {
    expect(filterOf("")).toEqual(EMPTY_FILTER);
  });

  test("comma lists and repeated parameters are split, trimmed and emptied of blanks", () => {
    expect(filterOf("service=api,%20web%20,&service=worker&hostname=h1&hostname=h2,h3&trace_id=abc,,def&q=timeout")).toEqual({
      ...EMPTY_FILTER,
      services: ["api", "web", "worker"],
      hostnames: ["h1", "h2", "h3"],
      traceIds: ["abc", "def"],
      query: { type: "text", value: "timeout" },
    });
  });

  test.each(["service", "hostname", "trace_id", "level"])("%s takes up to FILTER_VALUES_MAX values; one more is an error", (parameter) => {
    const values = Array.from({ length: FILTER_VALUES_MAX + 1 }, () => (parameter === "level" ? "info" : "x"));
    expect(() => filterOf(`${parameter}=${values.slice(0, FILTER_VALUES_MAX).join(",")}`)).not.toThrow();
    expect(thrown(() => filterOf(`${parameter}=${values.join(",")}`))).toEqual(queryError("bad_parameter", `${parameter} has ${FILTER_VALUES_MAX + 1} values, over the ${FILTER_VALUES_MAX} limit`));
  });

  test.each<[string, SearchFilter["levels"]]>([
    ["level=error", ["ERROR"]],
    ["level=WARNING,err,Fatal", ["WARN", "ERROR", "FATAL"]],
    ["level=%20info%20", ["INFO"]],
    ["level=trc&level=dbg", ["TRACE", "DEBUG"]],
    ["level=crit,emerg,panic", ["FATAL", "FATAL", "FATAL"]],
    ["level=3,4", ["ERROR", "WARN"]],
    ["level=30", ["INFO"]],
  ])("level spellings are normalized: %s", (query, levels) => {
    expect(filterOf(query)).toEqual({ ...EMPTY_FILTER, levels });
  });

  test.each(["loud", "infoo", "8", "99"])("an unknown level %p is an error that lists the valid levels", (raw) => {
    expect(thrown(() => filterOf(`level=info,${raw}`))).toEqual(queryError("bad_parameter", `level: unknown level ${JSON.stringify(raw)}; use one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL`));
    expect(LEVELS.join(", ")).toBe("TRACE, DEBUG, INFO, WARN, ERROR, FATAL");
  });

  test("a long unknown level is cut to 32 characters in the message", () => {
    const raw = "x".repeat(100);
    expect(thrown(() => filterOf(`level=${raw}`)).message).toBe(`level: unknown level "${"x".repeat(32)}"; use one of ${LEVELS.join(", ")}`);
  });

  const JAN_1_2026_US = Date.UTC(2026, 0, 1) * 1000;
  test.each<[string, string, number]>([
    ["RFC 3339 with Z", "2026-01-01T00:00:00Z", JAN_1_2026_US],
    ["RFC 3339 with a fraction and an offset", "2026-01-01T02:00:00.250%2B02:00", JAN_1_2026_US + 250_000],
    ["a date alone, midnight UTC", "2026-01-01", JAN_1_2026_US],
    ["epoch seconds", "1767225600", JAN_1_2026_US],
    ["epoch seconds with a fraction", "1767225600.5", JAN_1_2026_US + 500_000],
    ["epoch milliseconds", "1767225600123", JAN_1_2026_US + 123_000],
  ])("from and to accept %s", (_what, raw, us) => {
    expect(filterOf(`from=${raw}`)).toEqual({ ...EMPTY_FILTER, fromUs: us });
    expect(filterOf(`to=${raw}`)).toEqual({ ...EMPTY_FILTER, toUs: us });
  });

  test("both bounds together form the range [from, to)", () => {
    expect(filterOf("from=2026-01-01T00:00:00Z&to=1767225601")).toEqual({ ...EMPTY_FILTER, fromUs: JAN_1_2026_US, toUs: JAN_1_2026_US + 1_000_000 });
  });

  test("an empty from or to is no bound", () => {
    expect(filterOf("from=&to=")).toEqual(EMPTY_FILTER);
  });

  test.each([
    ["from equal to to", "from=1767225600&to=2026-01-01T00:00:00Z"],
    ["from after to", "from=1767225601&to=1767225600"],
  ])("%s is an error", (_what, query) => {
    expect(thrown(() => filterOf(query))).toEqual(queryError("bad_parameter", "from must be before to"));
  });

  test.each([
    ["from", "yesterday"],
    ["to", "2026-13-01T00:00:00Z"],
    ["from", "-5"],
    ["to", "2026-01-01T00:00:00Zjunk"],
    ["from", "3000-01-01T00:00:00Z"],
  ])("%s=%p is an error naming the parameter and the value", (name, raw) => {
    expect(thrown(() => filterOf(`${name}=${encodeURIComponent(raw)}`))).toEqual(queryError("bad_parameter", `${name}: ${JSON.stringify(raw)} is not an RFC 3339 time, an epoch number or a relative time like now-15m`));
  });

  test("q goes through the query language", () => {
    expect(filterOf(`q=${encodeURIComponent('"card declined" service:api')}`)).toEqual({
      ...EMPTY_FILTER,
      query: { type: "and", children: [{ type: "text", value: "card declined" }, { type: "match", field: { name: "service" }, value: "api", prefix: false }] },
    });
    expect(thrown(() => filterOf(`q=${encodeURIComponent('"open')}`))).toEqual(queryError("bad_query", "q: expected a closing quote at position 1, found the end of the query (unclosed quote)"));
  });

  test.each<[string, number]>([
    ["now", 0],
    ["now-15m", 15 * 60e6],
    ["now - 2h", 2 * 3600e6],
    ["now-7d", 7 * 86_400e6],
    ["now-30s", 30e6],
    ["now-1w", 604_800e6],
    ["now-250ms", 250e3],
  ])("from=%p is relative to now", (raw, backUs) => {
    const nowUs = 1_800_000_000_000_000;
    expect(parseFilter(new URLSearchParams({ from: raw }), nowUs).fromUs).toBe(nowUs - backUs);
  });
});

describe("parseSearchRequest", () => {
  test.each<[string, number]>([
    ["", SEARCH_LIMIT_DEFAULT],
    ["limit=", SEARCH_LIMIT_DEFAULT],
    ["limit=1", 1],
    ["limit=250", 250],
    [`limit=${SEARCH_LIMIT_MAX}`, SEARCH_LIMIT_MAX],
    [`limit=${SEARCH_LIMIT_MAX + 1}`, SEARCH_LIMIT_MAX],
    ["limit=1000000000", SEARCH_LIMIT_MAX],
  ])("%p -> limit %d", (query, limit) => {
    expect(parseSearchRequest(new URLSearchParams(query))).toEqual({ filter: EMPTY_FILTER, limit, order: "newest", cursor: undefined });
  });

  test.each(["0", "-1", "1.5", "ten", "NaN", "Infinity"])("limit=%p is an error", (raw) => {
    expect(thrown(() => parseSearchRequest(new URLSearchParams({ limit: raw })))).toEqual(queryError("bad_parameter", `limit: ${JSON.stringify(raw)} is not a positive integer`));
  });

  test("a whole request: filter, limit and cursor", () => {
    const cursor = { ts: 1_767_225_600_123_456, id: "660cec46abf00" + "00000000000c" + "00003" };
    const params = new URLSearchParams({ service: "api", level: "warn", q: "timeout", limit: "20", cursor: encodeCursor(cursor) });
    expect(parseSearchRequest(params)).toEqual({ filter: { ...EMPTY_FILTER, services: ["api"], levels: ["WARN"], query: { type: "text", value: "timeout" } }, limit: 20, order: "newest", cursor });
  });

  test.each<[string, string]>([
    ["newest", "newest"],
    ["desc", "newest"],
    ["OLDEST", "oldest"],
    ["asc", "oldest"],
  ])("order=%p is %p", (raw, order) => {
    expect(parseSearchRequest(new URLSearchParams({ order: raw })).order).toBe(order as "newest" | "oldest");
  });

  test("an unknown order is an error", () => {
    expect(thrown(() => parseSearchRequest(new URLSearchParams({ order: "random" })))).toEqual(queryError("bad_parameter", 'order: "random" is not newest or oldest'));
  });

  test("a cursor keeps its order: an oldest-first cursor is refused by a newest-first search and back", () => {
    const cursor = { ts: 5, id: "0".repeat(30) };
    expect(parseSearchRequest(new URLSearchParams({ order: "oldest", cursor: encodeCursor(cursor, "oldest") })).cursor).toEqual(cursor);
    expect(thrown(() => parseSearchRequest(new URLSearchParams({ cursor: encodeCursor(cursor, "oldest") })))).toEqual(queryError("bad_cursor", "cursor continues an order=oldest search, not order=newest"));
    expect(thrown(() => parseSearchRequest(new URLSearchParams({ order: "oldest", cursor: encodeCursor(cursor) })))).toEqual(queryError("bad_cursor", "cursor continues an order=newest search, not order=oldest"));
  });

  test("a foreign cursor is an error", () => {
    expect(thrown(() => parseSearchRequest(new URLSearchParams({ cursor: "not-a-cursor" })))).toEqual(queryError("bad_cursor", "cursor is not one this server issued"));
  });
});

describe("cursor", () => {
  test.each([
    { ts: 0, id: "0".repeat(30) },
    { ts: 1_767_225_600_123_456, id: "660cec46abf00" + "00000000000c" + "00003" },
    { ts: Number.MAX_SAFE_INTEGER, id: "f".repeat(30) },
    { ts: -1, id: "abcdef0123456789abcdef01234567" },
  ])("encode then decode round-trips ts=$ts id=$id", (cursor) => {
    const text = encodeCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text)).toEqual(cursor);
  });

  const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString("base64url");
  test.each<[string, string]>([
    ["empty", ""],
    ["not base64 JSON", "!!!"],
    ["plain text", "hello"],
    ["JSON null", encode(null)],
    ["an object", encode({ ts: 1, id: "ab" })],
    ["fractional ts", encode([1.5, "ab"])],
    ["ts as text", encode(["1", "ab"])],
    ["ts past 2^53", encode([2 ** 53, "ab"])],
    ["id missing", encode([1])],
    ["empty id", encode([1, ""])],
    ["id not hex", encode([1, "XYZ"])],
    ["id upper-case hex", encode([1, "AB"])],
    ["id of 65 characters", encode([1, "a".repeat(65)])],
    ["id with a quote", encode([1, "ab'; --"])],
  ])("rejects %s", (_what, text) => {
    expect(thrown(() => decodeCursor(text))).toEqual(queryError("bad_cursor", "cursor is not one this server issued"));
  });
});

