// Goal: the query language reads the way its grammar says (parser.ts): words, phrases,
// fields, comparisons, prefixes, NOT/-exclusion, AND/OR precedence and parentheses,
// with every limit enforced and every syntax error naming the 1-based position and what
// was expected; printQuery is the parser's inverse on every tree the parser can build;
// matchesEvent gives each node its documented meaning in memory; planPredicate puts no
// user value in the SQL text and rejects hand-built (wire) trees it cannot trust.
// Method: pure, no I/O. Tables of query text -> whole expected tree, and of bad text ->
// whole expected error; a seeded generator of canonical trees (every field kind, values
// full of quotes, backslashes, colons, *, operators and unicode) checked for
// parse(print(t)) == t and a stable print over a few thousand trees, plus random token
// soup that must never throw and whose parses must round trip and plan; tables of
// queries over a few events for the evaluator; hostile values in every slot and
// malicious trees for the planner.

import { wordsPatternRe2 } from "../src/query/words.ts";
import { describe, expect, test } from "bun:test";
import { LEVELS, type Level } from "../src/protocol/event.ts";
import { COMPARE_OPS, printQuery, quoteValue, type CompareOp, type FieldRef, type QueryNode } from "../src/query/ast.ts";
import { matchesEvent, type QueryableEvent } from "../src/query/evaluate.ts";
import { QUERY_DEPTH_MAX, QUERY_TERMS_MAX, QUERY_TEXT_CHARS_MAX } from "../src/query/limits.ts";
import { parseQuery, type QueryParse } from "../src/query/parser.ts";
import { NUMERIC_TEXT_PATTERN, planPredicate, QueryPlanError } from "../src/query/planner.ts";
import type { SqlParam } from "../src/storage/duckdb.ts";
import { Draw, seeded } from "./helpers/random.ts";

// Tree builders, so the tables read like the trees they expect.
const text = (value: string): QueryNode => ({ type: "text", value });
const and = (...children: QueryNode[]): QueryNode => ({ type: "and", children });
const or = (...children: QueryNode[]): QueryNode => ({ type: "or", children });
const not = (child: QueryNode): QueryNode => ({ type: "not", child });
type NamedField = Exclude<FieldRef, { metadata: string[] }>["name"];
const match = (name: NamedField, value: string, prefix = false): QueryNode => ({ type: "match", field: { name }, value, prefix });
const meta = (path: string, value: string, prefix = false): QueryNode => ({ type: "match", field: { metadata: path.split(".") }, value, prefix });
const level = (op: CompareOp, name: Level): QueryNode => ({ type: "compare", field: { name: "level" }, op, value: LEVELS.indexOf(name) });
const metaCompare = (path: string, op: CompareOp, value: number): QueryNode => ({ type: "compare", field: { metadata: path.split(".") }, op, value });

const parsed = (query: QueryNode | null): QueryParse => ({ ok: true, query });

/** The whole error parseQuery returns for a failure at `position`. */
function syntaxError(position: number, expected: string, found: string): QueryParse {
  return { ok: false, error: { position, expected, message: `q: expected ${expected} at position ${position}, found ${found}` } };
}

describe("parseQuery: text to tree", () => {
  test.each<[string, QueryNode | null]>([
    // Empty and blank queries match everything.
    ["", null],
    [" \t\r\n ", null],
    // Bare words and phrases.
    ["error", text("error")],
    ["ünïcödé", text("ünïcödé")],
    ['"connection refused"', text("connection refused")],
    ['"say \\"hi\\" now"', text('say "hi" now')],
    ['"back\\\\slash"', text("back\\slash")],
    ['"a\\bc"', text("abc")],
    ['""', text("")],
    ['"AND"', text("AND")],
    // Implicit and explicit AND, OR, NOT.
    ["error timeout", and(text("error"), text("timeout"))],
    ["error\ttimeout\r\nnow", and(text("error"), text("timeout"), text("now"))],
    ["error AND timeout", and(text("error"), text("timeout"))],
    ['"connection refused" host-1', and(text("connection refused"), text("host-1"))],
    ["a OR b", or(text("a"), text("b"))],
    ["NOT a", not(text("a"))],
    ["NOT NOT a", not(not(text("a")))],
    ["a NOT b", and(text("a"), not(text("b")))],
    ["a AND NOT b", and(text("a"), not(text("b")))],
    ["NOT a OR b", or(not(text("a")), text("b"))],
    ["NOT (a OR b)", not(or(text("a"), text("b")))],
    ['NOT "a b"', not(text("a b"))],
    // -word and -field:value exclusion.
    ["-debug", not(text("debug"))],
    ["error -debug", and(text("error"), not(text("debug")))],
    ["-service:api", not(match("service", "api"))],
    ['-service:"my api"', not(match("service", "my api"))],
    ["-level:>=WARN", not(level(">=", "WARN"))],
    ["-metadata.user.id:42", not(meta("user.id", "42"))],
    ["-", text("-")],
    // Precedence: AND binds tighter than OR; parentheses group; nested and/or flatten.
    ["a OR b c", or(text("a"), and(text("b"), text("c")))],
    ["a b OR c", or(and(text("a"), text("b")), text("c"))],
    ["a OR b AND c OR d", or(text("a"), and(text("b"), text("c")), text("d"))],
    ["(a OR b) c", and(or(text("a"), text("b")), text("c"))],
    ["(a b) OR (c d)", or(and(text("a"), text("b")), and(text("c"), text("d")))],
    ["a (b c) d", and(text("a"), text("b"), text("c"), text("d"))],
    ["a OR (b OR c) OR d", or(text("a"), text("b"), text("c"), text("d"))],
    ["((a))", text("a")],
    ["(a (b OR (c d)))", and(text("a"), or(text("b"), and(text("c"), text("d"))))],
    // Fields.
    ["service:api", match("service", "api")],
    ["hostname:web-1.example.com", match("hostname", "web-1.example.com")],
    ["trace_id:4bf92f3577b34da6a3ce929d0e0e4736", match("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736")],
    ["span_id:00f067aa0ba902b7", match("span_id", "00f067aa0ba902b7")],
    ["service:a:b", match("service", "a:b")],
    ["service:=x", match("service", "=x")],
    ["service:AND", match("service", "AND")],
    ['service:"my api"', match("service", "my api")],
    ['service:""', match("service", "")],
    ['service:">5"', match("service", ">5")],
    ['service:"a*b"', match("service", "a*b")],
    // Levels: any spelling normalizes; comparisons carry the level's index.
    ["level:error", match("level", "ERROR")],
    ["level:ERROR", match("level", "ERROR")],
    ["level:err", match("level", "ERROR")],
    ["level:warn", match("level", "WARN")],
    ["level:warning", match("level", "WARN")],
    ["level:Fatal", match("level", "FATAL")],
    ['level:"info"', match("level", "INFO")],
    ["level:>=WARN", level(">=", "WARN")],
    ["level:>=warning", level(">=", "WARN")],
    ["level:<debug", level("<", "DEBUG")],
    ["level:>err", level(">", "ERROR")],
    ["level:<=TRACE", level("<=", "TRACE")],
    // Metadata: matches are strings, comparisons numbers.
    ["metadata.user.id:42", meta("user.id", "42")],
    ["metadata.user-id:u-7", meta("user-id", "u-7")],
    ["metadata.a.b_c.0:x", meta("a.b_c.0", "x")],
    ["metadata.duration_ms:>500", metaCompare("duration_ms", ">", 500)],
    ["metadata.delta:<-5", metaCompare("delta", "<", -5)],
    ["metadata.ratio:>=0.25", metaCompare("ratio", ">=", 0.25)],
    ["metadata.t:<=-1.5", metaCompare("t", "<=", -1.5)],
    ["metadata.size:>1e3", metaCompare("size", ">", 1000)],
    ['metadata.size:">5"', meta("size", ">5")],
    // Prefixes.
    ["trace_id:abc*", match("trace_id", "abc", true)],
    ['service:"my api"*', match("service", "my api", true)],
    ['service:""*', match("service", "", true)],
    ["metadata.region:eu-*", meta("region", "eu-", true)],
    ["timeout*", { type: "text", value: "timeout", prefix: true }],
    ['"connection ref"*', { type: "text", value: "connection ref", prefix: true }],
    ['message:"connection ref"*', { type: "text", value: "connection ref", prefix: true }],
    // message: is the same as a bare word or phrase.
    ['message:"x y"', text("x y")],
    ["message:timeout", text("timeout")],
    // Colons that name no field are text.
    ["12:30:01", text("12:30:01")],
    ["2024-01-01T10:00:00Z", text("2024-01-01T10:00:00Z")],
    ["::1", text("::1")],
    ["ünï:x", text("ünï:x")],
    // Operators are upper case only.
    ["and or not", and(text("and"), text("or"), text("not"))],
    ["a and b", and(text("a"), text("and"), text("b"))],
  ])("%p", (query, tree) => {
    expect(parseQuery(query)).toEqual(parsed(tree));
  });

  // The grammar says `unary := "-" term` and `term := ... | "phrase"`, so `-"foo bar"`
  // excludes the phrase (as in Lucene and KQL). The tokenizer ends the word "-" at the
  // quote, so it is read as the text "-" AND the phrase: the opposite of an exclusion.
  test('-"phrase" excludes the phrase', () => {
    expect(parseQuery('-"foo bar"')).toEqual(parsed(not(text("foo bar"))));
  });

  // ast.ts: "`message:` is the same as a bare word", also with a trailing * (a prefix).
  test("message:word* is the same as word*", () => {
    expect(parseQuery("message:timeout*")).toEqual(parseQuery("timeout*"));
  });

  test("exactly QUERY_TERMS_MAX terms, QUERY_DEPTH_MAX parentheses and QUERY_TEXT_CHARS_MAX characters are allowed", () => {
    const words = Array.from({ length: QUERY_TERMS_MAX }, (_, index) => `w${index}`);
    expect(parseQuery(words.join(" "))).toEqual(parsed(and(...words.map(text))));
    expect(parseQuery(`${"(".repeat(QUERY_DEPTH_MAX)}x${")".repeat(QUERY_DEPTH_MAX)}`)).toEqual(parsed(text("x")));
    const long = "a".repeat(QUERY_TEXT_CHARS_MAX);
    expect(parseQuery(long)).toEqual(parsed(text(long)));
  });
});

describe("parseQuery: errors name the position and what was expected", () => {
  const FIELDS_EXPECTED = "a field (service, level, hostname, trace_id, span_id, message, metadata.<path>); quote the word to search for it as text";
  const PATH_EXPECTED = "a metadata path of letters, digits, _ and -";
  const LEVEL_EXPECTED = `a level (${LEVELS.join(", ")})`;
  const STAR_EXPECTED = "a * only at the end of a value (prefix match)";
  const longSegment = "a".repeat(129);

  test.each<[string, string, number, string, string]>([
    ["unclosed quote", 'error "conn', 7, "a closing quote", "the end of the query (unclosed quote)"],
    ["quote closed only by an escaped quote", '"abc\\"', 1, "a closing quote", "the end of the query (unclosed quote)"],
    ["unmatched )", "a )", 3, "a term, AND, OR or NOT", '")"'],
    ["leading )", ") a", 1, "a term", '")" without a matching "("'],
    ["( never closed", "(a b", 5, '")" to close the "(" at position 1', "the end of the query"],
    ["inner ( never closed", "x (a (b c)", 11, '")" to close the "(" at position 3', "the end of the query"],
    ["empty ()", "()", 2, "a term inside the parentheses", '")"'],
    ["empty () after a term", "a ( )", 5, "a term inside the parentheses", '")"'],
    ["trailing AND", "a AND", 6, "a term", "the end of the query"],
    ["trailing OR", "a OR", 5, "a term", "the end of the query"],
    ["trailing NOT", "a NOT", 6, "a term", "the end of the query"],
    ["leading OR", "OR a", 1, "a term before OR", "OR"],
    ["leading AND", "AND a", 1, "a term before AND", "AND"],
    ["AND OR", "a AND OR b", 7, "a term before OR", "OR"],
    ["OR OR", "a OR OR b", 6, "a term before OR", "OR"],
    ["unknown field", "servce:api", 1, FIELDS_EXPECTED, '"servce:"'],
    ["unknown field after a term", "error servce:api", 7, FIELDS_EXPECTED, '"servce:"'],
    ["unknown field in an exclusion", "-servce:api", 2, FIELDS_EXPECTED, '"servce:"'],
    ["metadata without a path", "metadata:x", 1, FIELDS_EXPECTED, '"metadata:"'],
    ["empty metadata segment", "metadata.a..b:1", 1, PATH_EXPECTED, '"metadata.a..b"'],
    ["non-ASCII metadata segment", "metadata.user.ü:1", 1, PATH_EXPECTED, '"metadata.user.ü"'],
    ["metadata segment over 128 characters", `metadata.${longSegment}:1`, 1, PATH_EXPECTED, JSON.stringify(`metadata.${longSegment}`)],
    ["comparison on service", "service:>5", 9, "a comparison only on level or a numeric metadata field, not service", '">"'],
    ["comparison on hostname", "x hostname:<=a", 12, "a comparison only on level or a numeric metadata field, not hostname", '"<="'],
    ["word after > on metadata", "metadata.x:>abc", 13, 'a number after ">"', '"abc"'],
    ["nothing after >= on metadata", "metadata.x:>=", 14, 'a number after ">="', '""'],
    ["Infinity after < on metadata", "metadata.x:<Infinity", 13, 'a number after "<"', '"Infinity"'],
    ["unknown level", "level:loud", 7, LEVEL_EXPECTED, '"loud"'],
    ["unknown level in a comparison", "level:>=loud", 9, LEVEL_EXPECTED, '"loud"'],
    ["level prefix", "level:err*", 7, "a level without *", '"err*"'],
    ["* inside a word", "foo*bar", 4, "a * only at the end of a word (prefix match)", '"foo*bar"'],
    ["* alone", "a *", 3, "a * only at the end of a word (prefix match)", '"*"'],
    ["* inside a value", "service:a*b", 10, STAR_EXPECTED, '"a*b"'],
    ["* inside a quoted prefix", 'service:"a*b"*', 9, STAR_EXPECTED, '"a*b*"'],
    ["service: with nothing after", "service:", 9, 'a value after "service:"', "the end of the query"],
    ["service: then a space", "service: api", 9, 'a value after "service:"', '"api"'],
    ["service: then a spaced phrase", 'service: "api"', 9, 'a value after "service:"', 'the phrase "api"'],
    ["service:*", "service:*", 9, 'a value after "service:"', '"*" alone'],
    ["message: with nothing after", "a message:", 11, 'a value after "message:"', "the end of the query"],
  ])("%s: %p", (_name, query, position, expected, found) => {
    expect(parseQuery(query)).toEqual(syntaxError(position, expected, found));
  });

  test("more than QUERY_TERMS_MAX terms fails at the first term over", () => {
    const words = Array.from({ length: QUERY_TERMS_MAX + 1 }, (_, index) => `w${index}`);
    const query = words.join(" ");
    expect(parseQuery(query)).toEqual(syntaxError(query.lastIndexOf("w") + 1, `at most ${QUERY_TERMS_MAX} terms`, "more"));
  });

  test("field terms count too", () => {
    const query = Array.from({ length: QUERY_TERMS_MAX + 1 }, (_, index) => `service:s${index}`).join(" OR ");
    expect(parseQuery(query)).toEqual(syntaxError(query.lastIndexOf("service:") + 1, `at most ${QUERY_TERMS_MAX} terms`, "more"));
  });

  test.each<[string, string]>([
    ["parentheses", `${"(".repeat(QUERY_DEPTH_MAX + 1)}x${")".repeat(QUERY_DEPTH_MAX + 1)}`],
    ["NOT and parentheses", `${"NOT (".repeat(QUERY_DEPTH_MAX / 2 + 1)}x${")".repeat(QUERY_DEPTH_MAX / 2 + 1)}`],
  ])("nesting deeper than QUERY_DEPTH_MAX (%s) is a syntax error", (_name, query) => {
    expect(parseQuery(query)).toMatchObject({ ok: false, error: { expected: `at most ${QUERY_DEPTH_MAX} levels of nesting` } });
  });

  test("text longer than QUERY_TEXT_CHARS_MAX fails before parsing", () => {
    const query = "a ".repeat(QUERY_TEXT_CHARS_MAX / 2 + 1);
    expect(parseQuery(query)).toEqual({
      ok: false,
      error: { position: QUERY_TEXT_CHARS_MAX + 1, expected: `at most ${QUERY_TEXT_CHARS_MAX} characters`, message: `q is ${query.length} characters, over the ${QUERY_TEXT_CHARS_MAX} limit` },
    });
  });

  // QUERY_DEPTH_MAX bounds nesting of parentheses and NOT: a chain of NOTs once parsed
  // at any length and only the planner refused it.
  test("a chain of NOTs deeper than QUERY_DEPTH_MAX is a syntax error", () => {
    const query = `${"NOT ".repeat(2 * QUERY_DEPTH_MAX + 1)}-x`;
    // It fails at the NOT that goes one level too deep.
    expect(parseQuery(query)).toEqual(syntaxError((QUERY_DEPTH_MAX + 1) * 4 + 1, `at most ${QUERY_DEPTH_MAX} levels of nesting`, "deeper nesting"));
  });
});

describe("printQuery", () => {
  test.each<[QueryNode, string]>([
    [text("error"), "error"],
    [text("connection refused"), '"connection refused"'],
    [text('say "hi" \\ now'), '"say \\"hi\\" \\\\ now"'],
    [text(""), '""'],
    [text("AND"), '"AND"'],
    [text("-x"), '"-x"'],
    [text("12:30:01"), '"12:30:01"'],
    [text("a*"), '"a*"'],
    [text(">5"), '">5"'],
    [and(text("a"), text("b")), "a AND b"],
    [or(text("a"), and(text("b"), text("c"))), "a OR (b AND c)"],
    [and(or(text("a"), text("b")), text("c")), "(a OR b) AND c"],
    [not(and(text("a"), text("b"))), "NOT (a AND b)"],
    [not(not(text("a"))), "NOT NOT a"],
    [match("service", "my api", true), 'service:"my api"*'],
    [match("trace_id", "abc", true), "trace_id:abc*"],
    [match("level", "ERROR"), "level:ERROR"],
    [level(">=", "WARN"), "level:>=WARN"],
    [meta("user.id", "42"), "metadata.user.id:42"],
    [metaCompare("duration_ms", ">", 500), "metadata.duration_ms:>500"],
    [metaCompare("t", "<=", -1.5), "metadata.t:<=-1.5"],
  ])("%j -> %p", (tree, query) => {
    expect(printQuery(tree)).toBe(query);
  });

  test.each<[string, string]>([
    ["plain", "plain"],
    ["", '""'],
    ["a b", '"a b"'],
    ["NOT", '"NOT"'],
    ["not", "not"],
    ["a\\b", '"a\\\\b"'],
    ['"', '"\\""'],
    ["<=", '"<="'],
    ["=x", '"=x"'],
    ["x=y", "x=y"],
    ["日本語", "日本語"],
  ])("quoteValue(%p) is %p", (value, quoted) => {
    expect(quoteValue(value)).toBe(quoted);
  });
});

// ---------------------------------------------------------------------------------
// Property tests: a seeded generator of canonical trees.


/** Pieces of values: syntax characters, operator words, escapes, unicode, whitespace. */
const VALUE_PIECES = [
  "a", "api", "Error", "my api", "x y", '"', 'say "hi"', "\\", "back\\slash", '\\"', ":", "12:30:01", "service:api",
  "metadata.x:1", "level:>=WARN", "*", "a*", "*b", "-", "-x", "--", "AND", "OR", "NOT", "and", "or", "not", "(", ")", "(x)",
  ">", ">=", "<5", "<=", "=", "=x", "ünïcödé", "Über", "日本語", "🚀", "\u00a0", "\u3000", "\t", "\n", " ", "%", "_", "'",
  "'; DROP TABLE x; --", "42", "-5", "0.5", "read_csv('/etc/passwd')",
];
const SEGMENTS = ["user", "id", "a-b", "c_d", "0", "_", "-", "--x", "AND", "NOT", "constructor", "__proto__", "x".repeat(128)];
const NAMED_FIELDS: NamedField[] = ["service", "hostname", "trace_id", "span_id"];
const NUMBERS = [0, 1, -1, 42, -3.5, 0.25, 1e21, 1e-7, -2.5e-8, 5e-324, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MAX_SAFE_INTEGER, 123456789.125];

function drawValue(draw: Draw): string {
  const pieces = Array.from({ length: draw.chance(0.1) ? 0 : 1 + draw.int(3) }, () => draw.pick(VALUE_PIECES));
  return pieces.join(draw.pick(["", "", " "]));
}

function drawNumber(draw: Draw): number {
  if (draw.chance(0.3)) return Math.round((draw.unit() * 2000 - 1000) * 1000) / 1000 || 1;
  return draw.pick(NUMBERS);
}

function drawPath(draw: Draw): string[] {
  return Array.from({ length: 1 + draw.int(3) }, () => draw.pick(SEGMENTS));
}

function drawLeaf(draw: Draw): QueryNode {
  switch (draw.int(6)) {
    case 0:
      return text(drawValue(draw));
    case 1:
    case 2: {
      const field: FieldRef = draw.chance(0.5) ? { name: draw.pick(NAMED_FIELDS) } : { metadata: drawPath(draw) };
      const value = drawValue(draw);
      // The parser reads no * inside a prefix value (see the error table).
      return { type: "match", field, value, prefix: !value.includes("*") && draw.chance(0.4) };
    }
    case 3:
      return { type: "match", field: { name: "level" }, value: draw.pick(LEVELS), prefix: false };
    case 4:
      return { type: "compare", field: { name: "level" }, op: draw.pick(COMPARE_OPS), value: draw.int(LEVELS.length) };
    default:
      return { type: "compare", field: { metadata: drawPath(draw) }, op: draw.pick(COMPARE_OPS), value: drawNumber(draw) };
  }
}

/** A tree in the parser's canonical shape: and/or have 2+ children and never a child of their own type. */
function drawTree(draw: Draw, depth: number, parent?: "and" | "or"): QueryNode {
  const kinds = ["leaf", "leaf", "not", "and", "or"].filter((kind) => kind !== parent);
  const kind = depth <= 0 ? "leaf" : draw.pick(kinds);
  if (kind === "leaf") return drawLeaf(draw);
  if (kind === "not") return not(drawTree(draw, depth - 1));
  const type = kind as "and" | "or";
  return { type, children: Array.from({ length: 2 + draw.int(3) }, () => drawTree(draw, depth - 1, type)) };
}

function leafCount(node: QueryNode): number {
  if (node.type === "and" || node.type === "or") return node.children.reduce((sum, child) => sum + leafCount(child), 0);
  return node.type === "not" ? leafCount(node.child) : 1;
}

/** `count` canonical trees within the parser's limits. */
function drawTrees(seed: number, count: number): QueryNode[] {
  const draw = new Draw(seeded(seed));
  const trees: QueryNode[] = [];
  while (trees.length < count) {
    const tree = drawTree(draw, draw.int(5));
    if (leafCount(tree) <= QUERY_TERMS_MAX && printQuery(tree).length <= QUERY_TEXT_CHARS_MAX) trees.push(tree);
  }
  return trees;
}

describe("printQuery and parseQuery are inverse on canonical trees", () => {
  const TREES = drawTrees(0x5eed, 3000);

  test("the generator covers every node kind and field", () => {
    const seen = new Set<string>();
    const visit = (node: QueryNode): void => {
      if (node.type === "and" || node.type === "or") node.children.forEach(visit);
      else if (node.type === "not") visit(node.child);
      seen.add(node.type === "match" || node.type === "compare" ? `${node.type}:${"name" in node.field ? node.field.name : "metadata"}${node.type === "match" && node.prefix ? "*" : ""}` : node.type);
    };
    TREES.forEach(visit);
    expect([...seen].sort()).toEqual(
      ["and", "compare:level", "compare:metadata", "match:hostname", "match:hostname*", "match:level", "match:metadata", "match:metadata*", "match:service", "match:service*", "match:span_id", "match:span_id*", "match:trace_id", "match:trace_id*", "not", "or", "text"].sort(),
    );
  });

  test("parse(print(tree)) is the tree, and printing is stable", () => {
    for (const tree of TREES) {
      const query = printQuery(tree);
      const result = parseQuery(query);
      expect({ query, result }).toEqual({ query, result: parsed(tree) });
      if (result.ok && result.query) expect(printQuery(result.query)).toBe(query);
    }
  });

  test("every tree the parser builds plans", () => {
    for (const tree of TREES) expect(() => planPredicate(tree, () => "$1")).not.toThrow();
  });

  // The parser builds -0 from `metadata.x:>-0` (Number("-0")); printQuery writes it as
  // `0` (String(-0) is "0"), so the printed query parses to a different tree. Same
  // meaning in every comparison, but not the inverse the printer promises.
  test("-0 reads as 0, so parse(print(tree)) gives the same tree", () => {
    const first = parseQuery("metadata.x:>-0");
    expect(Object.is(first.ok && first.query?.type === "compare" ? first.query.value : NaN, 0)).toBe(true);
    if (!first.ok || !first.query) throw new Error("unreachable");
    expect(parseQuery(printQuery(first.query))).toEqual(first);
  });
});

describe("random token soup", () => {
  const SOUP = [
    "a", "b", "error", "NOT", "AND", "OR", "not", "(", ")", '"x y"', '"', "\\", '"a\\"b"', "-", "-b", "-(", "*", "a*", "a*b",
    "service:", "service:api", "service:api*", 'service:"my api"', 'service:"a"*', "level:warn", "level:>=err", "level:<x",
    "metadata.user.id:42", "metadata.d:>500", "metadata.d:<=-1.5", "metadata.d:>x", "metadata..x:1", "message:", "message:x*",
    "12:30:01", "servce:x", "日本", "🚀", "\t", "", ":",
  ];

  test("never throws; errors point inside the text; every parse round trips and plans", () => {
    const draw = new Draw(seeded(0x50a9));
    for (let round = 0; round < 3000; round++) {
      const query = Array.from({ length: 1 + draw.int(10) }, () => draw.pick(SOUP)).join(draw.pick([" ", " ", ""]));
      const result = parseQuery(query);
      if (!result.ok) {
        const { position, expected, message } = result.error;
        expect({ query, inside: position >= 1 && position <= query.length + 1, message }).toEqual({ query, inside: true, message: expect.stringContaining(`expected ${expected} at position ${position}`) });
        continue;
      }
      if (result.query === null) continue;
      const printed = printQuery(result.query);
      expect({ query, printed, again: parseQuery(printed) }).toEqual({ query, printed, again: result });
      expect(() => planPredicate(result.query!, () => "$1")).not.toThrow();
    }
  });
});

// ---------------------------------------------------------------------------------
// The evaluator.

const EVENTS: Record<string, QueryableEvent> = {
  api: {
    level: "ERROR",
    service: "api",
    hostname: "web-1",
    traceId: "4bf92f3577b34da6",
    spanId: "00f067aa",
    message: "Connection REFUSED by Über-host 日本 (disk 95% full, a_b)",
    metadata: JSON.stringify({ user: { id: 42, name: "ann" }, duration_ms: 750, retries: "3", ratio: " 0.5 ", ok: true, tags: ["a", "b"], "user-id": "u-7", nothing: null, empty: "" }),
  },
  worker: {
    level: "INFO",
    service: "api-worker",
    hostname: "web-10",
    traceId: "4bf92f35deadbeef",
    spanId: "span-2",
    message: "job done in 120ms",
    metadata: '{"user":{"id":"42"},"duration_ms":"120","nested":{"a":{"b":{"c":-2.5}}}}',
  },
  plain: { level: "DEBUG", service: "billing", hostname: "db", traceId: "", spanId: "", message: "connection pool warmed", metadata: "not json {" },
  bare: { level: "WARN", service: "", hostname: "web-2", traceId: "abc", spanId: "", message: "", metadata: "" },
};
const ALL = Object.keys(EVENTS);

describe("matchesEvent", () => {
  test.each<[string, string[]]>([
    ["", ALL],
    // Text: case-insensitive contains, phrases, wildcard characters literal.
    ["refused", ["api"]],
    ["CONNECTION", ["api", "plain"]],
    ["connection refused", ["api"]],
    ['"refused by"', ["api"]],
    ['"by refused"', []],
    ["über", ["api"]],
    ["日本", ["api"]],
    ["95%", ["api"]],
    ["a_b", ["api"]],
    ['""', ALL],
    ["conn*", ["api", "plain"]],
    // Exact and prefix matches, case-sensitive.
    ["service:api", ["api"]],
    ["service:API", []],
    ["service:api*", ["api", "worker"]],
    ['service:""', ["bare"]],
    ['service:""*', ALL],
    ["hostname:web-1", ["api"]],
    ["hostname:web-1*", ["api", "worker"]],
    ["trace_id:4bf92f35*", ["api", "worker"]],
    ["trace_id:4bf92f35", []],
    ["span_id:00f067aa", ["api"]],
    // Metadata paths: numbers and strings compare as json_extract_string text; objects as JSON text.
    ["metadata.user.id:42", ["api", "worker"]],
    ['metadata.user:"{\\"id\\":\\"42\\"}"', ["worker"]],
    ['metadata.tags:"[\\"a\\",\\"b\\"]"', ["api"]],
    ["metadata.ok:true", ["api"]],
    ["metadata.user-id:u-*", ["api"]],
    ['metadata.empty:""', ["api"]],
    ["metadata.nested.a.b.c:-2.5", ["worker"]],
    ["metadata.nothing:null", []],
    ['metadata.nothing:""*', []],
    ["metadata.user.missing:x", []],
    ["metadata.user.id.deeper:42", []],
    ["metadata.tags.0:a", []],
    ["metadata.constructor:x", []],
    ['metadata.constructor:""*', []],
    ["metadata.not:x", []],
    // Numeric comparisons: numbers, numeric strings (trimmed), nothing else.
    ["metadata.duration_ms:>500", ["api"]],
    ["metadata.duration_ms:<500", ["worker"]],
    ["metadata.duration_ms:>=120", ["api", "worker"]],
    ["metadata.retries:>=3", ["api"]],
    ["metadata.retries:>3", []],
    ["metadata.ratio:<1", ["api"]],
    ["metadata.ratio:>=0.5", ["api"]],
    ["metadata.nested.a.b.c:<-2", ["worker"]],
    ["metadata.empty:<1", []],
    ["metadata.ok:>0", []],
    ["metadata.user:>0", []],
    ["metadata.nothing:<1", []],
    ["metadata.duration_ms:>0", ["api", "worker"]],
    // Levels.
    ["level:error", ["api"]],
    ["level:>=WARN", ["api", "bare"]],
    ["level:<INFO", ["plain"]],
    ["level:<=info", ["worker", "plain"]],
    ["level:>FATAL", []],
    // Boolean structure; NOT of a missing or non-JSON metadata field is true.
    ["NOT metadata.user.id:42", ["plain", "bare"]],
    ["-metadata.duration_ms:>500", ["worker", "plain", "bare"]],
    ["NOT metadata.missing:x", ALL],
    ["NOT metadata.missing:<0", ALL],
    ["NOT (service:api OR metadata.user.id:42)", ["plain", "bare"]],
    ["connection OR level:WARN", ["api", "plain", "bare"]],
    ["connection -refused", ["plain"]],
    ["service:api* level:INFO OR hostname:db", ["worker", "plain"]],
  ])("%p selects %p", (query, names) => {
    const result = parseQuery(query);
    if (!result.ok) throw new Error(result.error.message);
    expect(ALL.filter((name) => matchesEvent(result.query, EVENTS[name]))).toEqual(names);
  });
});

// ---------------------------------------------------------------------------------
// The planner.

/** The SQL and bound parameters for a tree, placeholders $1, $2, … */
function plan(node: QueryNode): { sql: string; params: SqlParam[] } {
  const params: SqlParam[] = [];
  const sql = planPredicate(node, (value) => {
    params.push(value);
    return `$${params.length}`;
  });
  return { sql, params };
}

function parseOrThrow(query: string): QueryNode {
  const result = parseQuery(query);
  if (!result.ok) throw new Error(result.error.message);
  if (!result.query) throw new Error("empty query");
  return result.query;
}

/** What fn threw, as a comparable object. */
function thrown(fn: () => unknown): { error: string; code: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as QueryPlanError).code, message: (error as Error).message };
  }
  throw new Error("expected a throw");
}

const planError = (message: string) => ({ error: "QueryPlanError", code: "bad_query", message });

describe("planPredicate", () => {
  test("shape of every node kind", () => {
    const json = (param: string) => `(CASE WHEN json_valid(metadata) THEN json_extract_string(metadata, ${param}) END)`;
    expect(plan(parseOrThrow("error service:api* level:>=WARN metadata.user.id:42 NOT hostname:h1 level:fatal OR metadata.duration_ms:>0.5 OR trace_id:t"))).toEqual({
      sql:
        "(((contains(lower(message), $1) AND regexp_matches(lower(message), $2)) AND (starts_with(service, $3)) AND (level >= $4) AND (COALESCE(" + json("$5") + " = $6, false)) AND (NOT (hostname = $7)) AND (level = $8))" +
        " OR (COALESCE(CASE WHEN regexp_full_match(" + json("$9") + ", $10) THEN TRY_CAST(" + json("$9") + " AS DOUBLE) > $11 END, false)) OR (trace_id = $12))",
      params: ["error", wordsPatternRe2("error"), "api", 3, '$."user"."id"', "42", "h1", 5, '$."duration_ms"', NUMERIC_TEXT_PATTERN, 0.5, "t"],
    });
  });

  const HOSTILE_INPUTS = [
    "'; DROP TABLE x; --",
    "/etc/passwd",
    "read_csv('/etc/passwd')",
    "x' UNION ALL SELECT 1 FROM read_text('/etc/shadow') --",
    "' OR '1'='1",
    '"; ATTACH \'evil.db\' AS e; --',
    "%_\\",
    "$99; --",
    "Robert'); DELETE FROM logs;--",
    "ünïcödé 日本",
  ];

  /** A query with `value` in every value slot the grammar has. */
  function everySlot(value: string): string {
    const v = quoteValue(value);
    return [v, `message:${v}`, `service:${v}`, `service:${v}*`, `hostname:${v}`, `trace_id:${v}*`, `span_id:${v}`, `metadata.user.id:${v}`, `-metadata.a-b.c_d:${v}*`].join(" OR ");
  }
  const harmless = plan(parseOrThrow(everySlot("harmless")));

  test.each(HOSTILE_INPUTS)("%p travels only as a parameter", (input) => {
    const { sql, params } = plan(parseOrThrow(everySlot(input)));
    expect(sql).toBe(harmless.sql);
    expect(sql).not.toContain(input);
    const lower = input.toLowerCase();
    expect(params).toEqual([lower, wordsPatternRe2(lower), lower, wordsPatternRe2(lower), input, input, input, input, input, '$."user"."id"', input, '$."a-b"."c_d"', input]);
  });

  test.each(["DROP_TABLE_x", "read_csv", "etc-passwd", "--", "x--y", "__proto__"])("metadata path segment %p travels only as a parameter", (segment) => {
    const query = (name: string) => `metadata.${name}:x metadata.${name}.${name}:>1`;
    const { sql, params } = plan(parseOrThrow(query(segment)));
    expect(sql).toBe(plan(parseOrThrow(query("harmless"))).sql);
    expect(sql).not.toContain(segment);
    expect(params).toEqual([`$."${segment}"`, "x", `$."${segment}"."${segment}"`, NUMERIC_TEXT_PATTERN, 1]);
  });

  test("placeholders are numbered in order of their parameters", () => {
    const { sql, params } = plan(parseOrThrow(everySlot("x")));
    expect([...sql.matchAll(/\$(\d+)/g)].map((found) => Number(found[1]))).toEqual(params.map((_, index) => index + 1));
  });

  const deepNot = (depth: number): QueryNode => (depth === 0 ? text("x") : not(deepNot(depth - 1)));
  const leaves = (count: number): QueryNode => and(...Array.from({ length: count }, (_, index) => text(`w${index}`)));

  test("the limits themselves plan", () => {
    expect(() => plan(deepNot(2 * QUERY_DEPTH_MAX))).not.toThrow();
    expect(() => plan(leaves(QUERY_TERMS_MAX))).not.toThrow();
  });

  const level0 = { name: "level" } as const;
  test.each<[string, unknown, string]>([
    ["unknown field", { type: "match", field: { name: "tenant" }, value: "x", prefix: false }, 'unknown field "tenant"'],
    ["message is no column", { type: "match", field: { name: "message" }, value: "x", prefix: true }, 'unknown field "message"'],
    ["SQL as a field", { type: "match", field: { name: "service = service OR 1=1; --" }, value: "x", prefix: false }, 'unknown field "service = service OR 1=1; --"'],
    ["no field name", { type: "match", field: {}, value: "x", prefix: false }, "unknown field undefined"],
    ["quote in a metadata segment", { type: "match", field: { metadata: ['a"b'] }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["dot in a metadata segment", { type: "match", field: { metadata: ["a.b"] }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["') in a metadata segment", { type: "compare", field: { metadata: ["ok", "x')"] }, op: ">", value: 1 }, "a metadata path must be segments of letters, digits, _ and -"],
    ["SQL in a metadata segment", { type: "match", field: { metadata: ["'); DROP TABLE x; --"] }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["empty metadata segment", { type: "match", field: { metadata: [""] }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["empty metadata path", { type: "match", field: { metadata: [] }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["metadata path not an array", { type: "match", field: { metadata: "user" }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["number as a metadata segment", { type: "match", field: { metadata: [1] }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["metadata segment over 128 characters", { type: "match", field: { metadata: ["a".repeat(129)] }, value: "x", prefix: false }, "a metadata path must be segments of letters, digits, _ and -"],
    ["unknown node type", { type: "sql", value: "1=1" }, 'unknown query node "sql"'],
    ["no node type", { value: "x" }, "unknown query node undefined"],
    ["number as text", { type: "text", value: 42 }, "a query value is not a string"],
    ["object as a match value", { type: "match", field: { name: "service" }, value: { toString: () => "x" }, prefix: false }, "a query value is not a string"],
    ["null as a match value", { type: "match", field: { name: "service" }, value: null, prefix: false }, "a query value is not a string"],
    ["NaN", { type: "compare", field: { metadata: ["x"] }, op: ">", value: Number.NaN }, "a comparison needs a finite number"],
    ["Infinity", { type: "compare", field: { metadata: ["x"] }, op: "<", value: Number.POSITIVE_INFINITY }, "a comparison needs a finite number"],
    ["-Infinity on level", { type: "compare", field: level0, op: ">", value: Number.NEGATIVE_INFINITY }, "a comparison needs a finite number"],
    ["a string number", { type: "compare", field: { metadata: ["x"] }, op: ">", value: "5" }, "a comparison needs a finite number"],
    ["= as a comparison", { type: "compare", field: { metadata: ["x"] }, op: "=", value: 1 }, 'comparison "=" is not one of >= <= > <'],
    ["<> as a comparison", { type: "compare", field: level0, op: "<>", value: 1 }, 'comparison "<>" is not one of >= <= > <'],
    ["SQL as a comparison", { type: "compare", field: level0, op: "> 0 OR 1=1; --", value: 1 }, 'comparison "> 0 OR 1=1; --" is not one of >= <= > <'],
    ["comparison on service", { type: "compare", field: { name: "service" }, op: ">", value: 1 }, "service cannot be compared, only level and metadata numbers"],
    ["unknown level", { type: "match", field: level0, value: "LOUD", prefix: false }, 'level "LOUD" is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL'],
    ["lower-case level", { type: "match", field: level0, value: "error", prefix: false }, 'level "error" is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL'],
    ["level prefix", { type: "match", field: level0, value: "ERROR", prefix: true }, 'level "ERROR" is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL'],
    ["and without children", { type: "and", children: [] }, "and without terms"],
    ["or with children not an array", { type: "or", children: "x" }, "or without terms"],
    ["over-deep tree", deepNot(2 * QUERY_DEPTH_MAX + 1), `query nests deeper than ${QUERY_DEPTH_MAX}`],
    ["too many leaves", leaves(QUERY_TERMS_MAX + 1), `query has more than ${QUERY_TERMS_MAX} terms`],
    ["too many leaves, spread out", or(leaves(QUERY_TERMS_MAX / 2), not(leaves(QUERY_TERMS_MAX / 2 + 1))), `query has more than ${QUERY_TERMS_MAX} terms`],
  ])("rejects %s", (_name, tree, message) => {
    expect(thrown(() => plan(tree as QueryNode))).toEqual(planError(message));
  });

  // The planner re-checks trees from the wire, but a few shapes get past it: a field name
  // is looked up in a plain object literal, so names of Object.prototype members
  // ("constructor", "toString", "__proto__") are "columns" and their JavaScript source
  // text (e.g. "function Object() { [native code] }") lands in the SQL; a null or missing
  // child or field throws a TypeError instead of a QueryPlanError (bad_query).
  test.each<[string, unknown]>([
    ["constructor as a field", { type: "match", field: { name: "constructor" }, value: "x", prefix: false }],
    ["toString as a field", { type: "match", field: { name: "toString" }, value: "x", prefix: true }],
    ["__proto__ as a field", { type: "match", field: { name: "__proto__" }, value: "x", prefix: false }],
    ["null child", { type: "and", children: [{ type: "text", value: "x" }, null] }],
    ["missing NOT child", { type: "not" }],
    ["null field", { type: "match", field: null, value: "x", prefix: false }],
  ])("rejects %s as a QueryPlanError", (_name, tree) => {
    expect(thrown(() => plan(tree as QueryNode))).toEqual({ error: "QueryPlanError", code: "bad_query", message: expect.any(String) });
  });
});
