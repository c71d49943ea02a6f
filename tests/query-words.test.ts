// Goal: a word or phrase of the query matches whole words of the message, the same in
// JavaScript and as the RE2 pattern the SQL runs; the skip keys a query requires are
// words and values a matching row surely holds, never more.
// Method: tables through containsWords and through wordsPatternRe2 run by RE2-compatible
// JavaScript regexes (\pL/\pN written as \p{L}/\p{N}), and tables of skip trees.
// DuckDB's own RE2 runs the same patterns in query-language-duckdb.test.ts.

import { describe, expect, test } from "bun:test";
import type { QueryNode } from "../src/query/ast.ts";
import { parseQuery } from "../src/query/parser.ts";
import { mayMatch, skipTree, type SkipTree } from "../src/query/skip-keys.ts";
import { containsWords, requiredWords, wordsPatternRe2 } from "../src/query/words.ts";

/** The RE2 pattern as a JavaScript regex: \pL and \x{..} spelled the JavaScript way. */
function asJsRegex(pattern: string): RegExp {
  return new RegExp(pattern.replaceAll("\\pL", "\\p{L}").replaceAll("\\pN", "\\p{N}").replace(/\\x\{([0-9a-f]+)\}/g, "\\u{$1}"), "u");
}

describe("containsWords", () => {
  test.each<[string, string, boolean, boolean]>([
    ["read timeout after 5s", "timeout", false, true],
    ["read timeouts after 5s", "timeout", false, false],
    ["connectiontimeout", "timeout", false, false],
    ["timeout", "timeout", false, true],
    ["timeout: x", "timeout", false, true],
    ["(timeout)", "timeout", false, true],
    ["time_out", "time", false, false],
    ["read timeouts", "timeout", true, true],
    ["retimeout", "timeout", true, false],
    ["connection refused by peer", "connection refused", false, true],
    ["connection refusedx", "connection refused", false, false],
    ["connection refusedx", "connection ref", true, true],
    ["err=5 status", "=5", false, true],
    ["err=55", "=5", false, false],
    ["10.0.0.1:80", "10.0.0.1", false, true],
    ["10.0.0.12", "10.0.0.1", false, false],
    ["über alles", "über", false, true],
    ["grüße", "grü", false, false],
    ["日本 語", "日本", false, true],
    ["a🚀b", "a", false, true],
    ["anything", "", false, true],
    ["timeout timeouts", "timeout", false, true],
    ["timeouts timeout", "timeout", false, true],
  ])("%p holds %p (prefix %p): %p", (text, needle, prefix, expected) => {
    expect(containsWords(text, needle, prefix)).toBe(expected);
    expect(asJsRegex(wordsPatternRe2(needle, prefix)).test(text)).toBe(expected);
  });
});

describe("requiredWords", () => {
  test.each<[string, boolean, string[]]>([
    ["timeout", false, ["timeout"]],
    ["timeout", true, []],
    ["connection ref", true, ["connection"]],
    ["connection refused", false, ["connection", "refused"]],
    ["10.0.0.1:80", false, ["10", "0", "0", "1", "80"]],
    ["foo-", true, ["foo"]],
    ["über", false, []],
    ["", false, []],
    ["--", false, []],
  ])("%p (prefix %p)", (needle, prefix, words) => {
    expect(requiredWords(needle, prefix)).toEqual(words);
  });
});

describe("skipTree", () => {
  const tree = (q: string): SkipTree => {
    const parsed = parseQuery(q);
    if (!parsed.ok) throw new Error(q);
    return skipTree({ services: [], levels: [], hostnames: [], traceIds: [], query: parsed.query as QueryNode | null });
  };

  test.each<[string, SkipTree]>([
    ["", true],
    ["Timeout", { key: "w:timeout" }],
    ['"connection refused" service:api', { all: [{ all: [{ key: "w:connection" }, { key: "w:refused" }] }, { key: "s:api" }] }],
    ["trace_id:abc OR hostname:h1", { any: [{ key: "t:abc" }, { key: "h:h1" }] }],
    ["trace_id:abc OR level:ERROR", true],
    ["NOT timeout", true],
    ["timeout -debug", { key: "w:timeout" }],
    ["service:api*", true],
    ['trace_id:""', true],
    ["metadata.x:1 level:>=WARN", true],
  ])("%p", (q, expected) => {
    expect(tree(q)).toEqual(expected);
  });

  test("list parameters require one of their values, and one of their (level, service) pairs", () => {
    expect(skipTree({ services: ["a", "b"], levels: ["ERROR"], hostnames: [], traceIds: ["t"], query: null })).toEqual({
      all: [{ any: [{ key: "s:a" }, { key: "s:b" }] }, { key: "t:t" }, { any: [{ key: "v:4:a" }, { key: "v:4:b" }] }],
    });
  });

  test.each<[string, SkipTree]>([
    ["service:api level:ERROR", { all: [{ key: "s:api" }, { key: "v:4:api" }] }],
    ["level:>=ERROR service:api", { all: [{ key: "s:api" }, { any: [{ key: "v:4:api" }, { key: "v:5:api" }] }] }],
    ["(service:a OR service:b) level:WARN timeout", { all: [{ all: [{ any: [{ key: "s:a" }, { key: "s:b" }] }, { key: "w:timeout" }] }, { any: [{ key: "v:3:a" }, { key: "v:3:b" }] }] }],
    // Only conjuncts constrain both: an OR across fields, a prefix or a NOT pairs nothing.
    ["service:api OR level:ERROR", true],
    ["service:api* level:ERROR", true],
    ["service:api NOT level:ERROR", { key: "s:api" }],
    ["service:api (level:ERROR OR timeout)", { key: "s:api" }],
  ])("(level, service) pairs: %p", (q, expected) => {
    expect(tree(q)).toEqual(expected);
  });

  test("(level, service) pairs: the narrowest constraint of each is used, and no pair at all matches nothing", () => {
    const parsed = parseQuery("level:>=WARN");
    if (!parsed.ok) throw new Error("parse");
    expect(skipTree({ services: ["a"], levels: ["ERROR"], hostnames: [], traceIds: [], query: parsed.query as QueryNode })).toEqual({ all: [{ key: "s:a" }, { key: "v:4:a" }] });
    const none = parseQuery("level:<TRACE service:a");
    if (!none.ok) throw new Error("parse");
    expect(skipTree({ services: [], levels: [], hostnames: [], traceIds: [], query: none.query as QueryNode })).toEqual({ all: [{ key: "s:a" }, { key: "v:none" }] });
  });

  test("mayMatch", () => {
    const has = (key: string) => key === "w:a" || key === "s:x";
    expect(mayMatch(true, has)).toBe(true);
    expect(mayMatch({ all: [{ key: "w:a" }, { key: "s:x" }] }, has)).toBe(true);
    expect(mayMatch({ all: [{ key: "w:a" }, { key: "s:y" }] }, has)).toBe(false);
    expect(mayMatch({ any: [{ key: "w:b" }, { key: "s:x" }] }, has)).toBe(true);
  });
});
