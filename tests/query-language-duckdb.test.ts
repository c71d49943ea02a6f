// Goal: a query selects the same events whether DuckDB runs the planner's SQL over the
// stored columns (search, aggregate) or matchesEvent runs the tree in memory (live
// tail, alert rules), and the same again after a print/parse round trip.
// Method: one real DuckDB (Duck.open, locked to a temporary directory removed in
// afterAll) holding a table with the stored columns (COLUMNS; level as its UTINYINT
// index) plus an id, filled with 300 seeded events: services, hosts, trace and span ids,
// levels, messages with mixed case, LIKE wildcards, backslashes and unicode, metadata
// JSON with nested objects, numbers, numeric strings, arrays, nulls, and some rows that
// are valid JSON but no object or no JSON at all. A seeded generator draws a few
// hundred query trees from the same vocabulary; for each, the ids selected by
// `SELECT id ... WHERE <planPredicate>` must equal the ids matchesEvent selects.
// Differences that are not the query language's (lower()'s folding of letters whose case
// maps change length or depend on context, like ß and final sigma; DuckDB's text for
// JSON numbers such as 1.0 or 1e3) are kept out of the data. Metadata terms under NOT,
// numeric strings and malformed metadata have their own cases; the one divergence left
// (non-canonical JSON only a FlatBuffers producer can store) is a test.failing.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { DuckDBConnection } from "@duckdb/node-api";
import { LEVELS } from "../src/protocol/event.ts";
import { COMPARE_OPS, printQuery, type FieldRef, type QueryNode } from "../src/query/ast.ts";
import { matchesEvent, type QueryableEvent } from "../src/query/evaluate.ts";
import { parseQuery } from "../src/query/parser.ts";
import { planPredicate } from "../src/query/planner.ts";
import { mayMatch, skipKeysSql, skipTree } from "../src/query/skip-keys.ts";
import { Duck, execute, queryRows, type SqlParam } from "../src/storage/duckdb.ts";
import { COLUMNS, levelIndex } from "../src/storage/schema.ts";
import { tempDir } from "./helpers/processes.ts";
import { Draw, seeded } from "./helpers/random.ts";


// ---------------------------------------------------------------------------------
// The events.

const SERVICES = ["api", "API", "api-gateway", "api gateway", "billing", "auth", "ünï-svc", "日本-svc", ""];
const HOSTNAMES = ["web-1", "web-10", "web-2", "Web-1", "db.internal", ""];
const TRACE_IDS = ["4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f35deadbeef", "00000000", "abc", ""];
const SPAN_IDS = ["00f067aa0ba902b7", "00f067aa", "span-1", ""];
const MESSAGES = [
  "Connection refused",
  "connection REFUSED by peer",
  "timeout after 30s",
  "user 42 logged in",
  "Über cache miss",
  "über CACHE hit",
  "ÀÉÎÕÜ àéîõü",
  "日本語のログ",
  "rocket 🚀 launched",
  "disk 95% full",
  "under_score name",
  "path C:\\temp\\x",
  'say "hi"',
  "12:30:01 cron ran",
  "ERROR: failed to connect",
  "and or not",
  "AND OR NOT",
  "",
];
const NOT_JSON = ["not json", "{broken", "", '{"user":', "{'user':1}", '{"user":{"id":42}} trailing'];
const NOT_OBJECTS = ["42", "[1,2]", '"str"', "null", "true", "[]", "{}"];
const HANDWRITTEN = ['{"__proto__":"p","0":"zero","user":{"id":7}}', '{ "user" : { "id" : "42", "name" : "ann" } , "duration_ms" : " 8 " }', '{"constructor":"c","tags":["a",{"b":1}]}'];

function drawMetadata(draw: Draw): string {
  const roll = draw.int(100);
  if (roll < 5) return draw.pick(NOT_JSON);
  if (roll < 9) return draw.pick(NOT_OBJECTS);
  if (roll < 12) return draw.pick(HANDWRITTEN);
  const object: Record<string, unknown> = {};
  if (draw.chance(0.7)) object.user = { id: draw.pick([42, "42", 7, "u-7", 0, -1]), ...(draw.chance(0.5) ? { name: draw.pick(["ann", "Bob", "ünï", "日本"]) } : {}) };
  if (draw.chance(0.7)) object.duration_ms = draw.pick([0, 12, 120, 500, 501, 750, -3.5, 0.5, 12.25, 1000000, "120", " 8 ", "1e3", "-2.5", "abc", "", true, null, { ms: 5 }]);
  if (draw.chance(0.3)) object["user-id"] = draw.pick(["u-7", "u-70", "U-7"]);
  if (draw.chance(0.4)) object.region = draw.pick(["eu", "eu-west", "us-east", "EU"]);
  if (draw.chance(0.3)) object.tags = draw.pick([["a", "b"], [], ["x"]]);
  if (draw.chance(0.3)) object.nested = { a: { b: { c: draw.pick([1, "x", { d: 2 }, -2.5, "7"]) } } };
  if (draw.chance(0.3)) object.ok = draw.chance(0.5);
  if (draw.chance(0.1)) object.nothing = null;
  if (draw.chance(0.1)) object["0"] = "zero";
  return draw.chance(0.2) ? JSON.stringify(object, null, 2) : JSON.stringify(object);
}

interface Row {
  id: number;
  event: QueryableEvent;
}

function drawEvents(seed: number, count: number): Row[] {
  const draw = new Draw(seeded(seed));
  return Array.from({ length: count }, (_, id) => {
    const message = draw.chance(0.3) ? `${draw.pick(MESSAGES)} ${draw.pick(MESSAGES)}` : draw.pick(MESSAGES);
    return {
      id,
      event: {
        level: draw.pick(LEVELS),
        service: draw.pick(SERVICES),
        hostname: draw.pick(HOSTNAMES),
        traceId: draw.pick(TRACE_IDS),
        spanId: draw.pick(SPAN_IDS),
        message,
        metadata: drawMetadata(draw),
      },
    };
  });
}

const ROWS = drawEvents(0xd0c, 300);

// ---------------------------------------------------------------------------------
// The queries.

type NamedField = Exclude<FieldRef, { metadata: string[] }>["name"];
const NAMED_VALUES: Record<Exclude<NamedField, "level">, readonly string[]> = { service: SERVICES, hostname: HOSTNAMES, trace_id: TRACE_IDS, span_id: SPAN_IDS };
const METADATA_PATHS = [
  ["user"], ["user", "id"], ["user", "name"], ["duration_ms"], ["duration_ms", "ms"], ["user-id"], ["region"], ["tags"], ["tags", "0"], ["nested"],
  ["nested", "a"], ["nested", "a", "b", "c"], ["ok"], ["nothing"], ["__proto__"], ["0"], ["constructor"], ["missing"], ["user", "id", "deeper"],
];
const NUMERIC_PATHS = [["duration_ms"], ["user", "id"], ["nested", "a", "b", "c"], ["user"], ["region"], ["ok"], ["missing"], ["0"]];
const NUMBERS = [-5, -3.5, -1, 0, 0.5, 7, 8, 12, 42, 120, 500, 750, 1000, 1e6];
const JUNK = ["%", "_", "\\", "95%", "r_s", "a_b", "", "zzz", "%%", "C:\\temp", '"', "日本", "🚀"];

/** A metadata value as json_extract_string shows it, for drawing values that occur in the data. */
function valueAt(metadata: string, path: readonly string[]): string | null {
  let value: unknown;
  try {
    value = JSON.parse(metadata);
  } catch {
    return null;
  }
  for (const segment of path) {
    if (typeof value !== "object" || value === null || Array.isArray(value) || !Object.hasOwn(value, segment)) return null;
    value = (value as Record<string, unknown>)[segment];
  }
  return value === null || value === undefined ? null : typeof value === "string" ? value : JSON.stringify(value);
}

const OCCURRING = new Map(METADATA_PATHS.map((path) => [path.join("."), [...new Set(ROWS.map((row) => valueAt(row.event.metadata, path)).filter((value) => value !== null))]]));

/** Whole code points, so a prefix never ends in half a surrogate pair. */
function prefixOf(draw: Draw, value: string): string {
  const chars = Array.from(value);
  return chars.slice(0, draw.int(chars.length + 1)).join("");
}

function drawText(draw: Draw): string {
  if (draw.chance(0.2)) return draw.pick(JUNK);
  const chars = Array.from(draw.pick(MESSAGES));
  const start = draw.int(chars.length + 1);
  const piece = chars.slice(start, start + 1 + draw.int(8)).join("");
  return draw.pick([piece, piece, piece.toUpperCase(), piece.toLowerCase()]);
}

/** One or two whole words of a message, in some case. */
function drawWord(draw: Draw): string {
  const words = draw.pick(MESSAGES).split(/[^\p{L}\p{N}_]+/u).filter((word) => word !== "");
  if (words.length === 0) return draw.pick(JUNK);
  const start = draw.int(words.length);
  const piece = words.slice(start, start + 1 + draw.int(2)).join(" ");
  return draw.pick([piece, piece.toUpperCase(), piece.toLowerCase()]);
}

function drawStringMatch(draw: Draw, field: FieldRef, values: readonly string[]): QueryNode {
  const value = values.length === 0 || draw.chance(0.1) ? draw.pick(JUNK) : draw.pick(values);
  if (draw.chance(0.35) && !value.includes("*")) return { type: "match", field, value: prefixOf(draw, value), prefix: true };
  return { type: "match", field, value, prefix: false };
}

/** A leaf; metadata leaves only when `metadata` (SQL's NULL for a missing path shows under NOT). */
function drawLeaf(draw: Draw, metadata: boolean): QueryNode {
  switch (draw.int(metadata ? 10 : 6)) {
    case 0:
    case 1: {
      // Words match whole (words.ts): draw whole words of the messages often, or pieces, and sometimes a prefix.
      const value = draw.chance(0.5) ? drawWord(draw) : drawText(draw);
      return draw.chance(0.25) ? { type: "text", value, prefix: true } : { type: "text", value };
    }
    case 2:
    case 3: {
      const name = draw.pick(["service", "hostname", "trace_id", "span_id"] as const);
      return drawStringMatch(draw, { name }, NAMED_VALUES[name]);
    }
    case 4:
      return { type: "match", field: { name: "level" }, value: draw.pick(LEVELS), prefix: false };
    case 5:
      return { type: "compare", field: { name: "level" }, op: draw.pick(COMPARE_OPS), value: draw.int(LEVELS.length) };
    case 6:
    case 7:
    case 8: {
      const path = draw.pick(METADATA_PATHS);
      return drawStringMatch(draw, { metadata: path }, OCCURRING.get(path.join(".")) ?? []);
    }
    default:
      return { type: "compare", field: { metadata: draw.pick(NUMERIC_PATHS) }, op: draw.pick(COMPARE_OPS), value: draw.pick(NUMBERS) };
  }
}

interface TreeOptions {
  /** Whether metadata leaves may sit under a NOT. */
  metadataUnderNot: boolean;
}

/** A tree in the parser's canonical shape (and/or of 2+ children, never nested in their own kind). */
function drawTree(draw: Draw, options: TreeOptions, depth: number, underNot = false, parent?: "and" | "or"): QueryNode {
  const kinds = ["leaf", "leaf", "not", "and", "or"].filter((kind) => kind !== parent);
  const kind = depth <= 0 ? "leaf" : draw.pick(kinds);
  if (kind === "leaf") return drawLeaf(draw, options.metadataUnderNot || !underNot);
  if (kind === "not") return { type: "not", child: drawTree(draw, options, depth - 1, true) };
  const type = kind as "and" | "or";
  return { type, children: Array.from({ length: 2 + draw.int(2) }, () => drawTree(draw, options, depth - 1, underNot, type)) };
}

function drawTrees(seed: number, count: number, options: TreeOptions): QueryNode[] {
  const draw = new Draw(seeded(seed));
  return Array.from({ length: count }, () => drawTree(draw, options, draw.int(4)));
}

// ---------------------------------------------------------------------------------
// DuckDB.

const root = tempDir("query-language");
let duck: Duck;
let connection: DuckDBConnection;

/** The stored columns, in COLUMNS order, for one event. */
function storedValues(row: Row): SqlParam[] {
  const stored: Record<(typeof COLUMNS)[number][0], SqlParam> = {
    ts: 1_700_000_000_000_000 + row.id,
    ingest_ts: 1_700_000_000_000_000 + row.id,
    seq: row.id,
    idx: 0,
    tenant: "default",
    level: levelIndex(row.event.level),
    service: row.event.service,
    hostname: row.event.hostname,
    trace_id: row.event.traceId,
    span_id: row.event.spanId,
    message: row.event.message,
    metadata: row.event.metadata,
  };
  return COLUMNS.map(([name]) => stored[name]);
}

async function createTable(name: string, rows: readonly Row[]): Promise<void> {
  await execute(connection, `CREATE TABLE ${name} (id INTEGER, ${COLUMNS.map(([column, type]) => `${column} ${type}`).join(", ")})`);
  for (let start = 0; start < rows.length; start += 50) {
    const batch = rows.slice(start, start + 50);
    const params: SqlParam[] = [];
    const tuples = batch.map((row) => {
      const values = [row.id, ...storedValues(row)];
      const placeholders = values.map((value) => {
        params.push(value);
        return `$${params.length}`;
      });
      return `(${placeholders.join(", ")})`;
    });
    await execute(connection, `INSERT INTO ${name} VALUES ${tuples.join(", ")}`, params);
  }
}

/** Ids the planner's SQL selects from `table`, ascending. */
async function sqlIds(table: string, tree: QueryNode): Promise<number[]> {
  const params: SqlParam[] = [];
  const predicate = planPredicate(tree, (value) => {
    params.push(value);
    return `$${params.length}`;
  });
  const rows = await queryRows(connection, `SELECT id FROM ${table} WHERE ${predicate} ORDER BY id`, params);
  return rows.map((row) => Number(row.id));
}

/** Ids matchesEvent selects, ascending. */
function jsIds(rows: readonly Row[], tree: QueryNode): number[] {
  return rows.filter((row) => matchesEvent(tree, row.event)).map((row) => row.id);
}

function reparse(tree: QueryNode): QueryNode {
  const result = parseQuery(printQuery(tree));
  if (!result.ok || result.query === null) throw new Error(`${printQuery(tree)} does not parse back: ${JSON.stringify(result)}`);
  return result.query;
}

interface Disagreement {
  query: string;
  /** Ids only the SQL selects. */
  onlySql: number[];
  /** Ids only matchesEvent selects. */
  onlyJs: number[];
}

/** Where SQL and matchesEvent disagree on `tree` over `table`; empty lists when they agree. */
async function disagreement(table: string, rows: readonly Row[], tree: QueryNode): Promise<Disagreement> {
  const sql = await sqlIds(table, tree);
  const js = jsIds(rows, tree);
  return { query: printQuery(tree), onlySql: sql.filter((id) => !js.includes(id)), onlyJs: js.filter((id) => !sql.includes(id)) };
}

const agreement = (query: string): Disagreement => ({ query, onlySql: [], onlyJs: [] });

/** The disagreements over `trees` and over their print/parse round trips (which must select what the tree does). */
async function disagreements(table: string, rows: readonly Row[], trees: readonly QueryNode[]): Promise<Disagreement[]> {
  const found: Disagreement[] = [];
  for (const tree of trees) {
    const expected = jsIds(rows, tree);
    const again = reparse(tree);
    for (const result of [await disagreement(table, rows, tree), await disagreement(table, rows, again)]) {
      if (result.onlySql.length > 0 || result.onlyJs.length > 0) found.push(result);
    }
    const againIds = jsIds(rows, again);
    if (JSON.stringify(againIds) !== JSON.stringify(expected)) {
      // Reported in the same shape: "onlySql" here is what only the reparsed tree selects.
      found.push({ query: `${printQuery(tree)} reparsed as ${printQuery(again)}`, onlySql: againIds.filter((id) => !expected.includes(id)), onlyJs: expected.filter((id) => !againIds.includes(id)) });
    }
  }
  return found;
}

/** Rows whose metadata makes SQL and JS disagree (see the test.failing below). */
const EDGE_ROWS: Row[] = [
  '{"v":"NaN"}',
  '{"v":"Infinity"}',
  '{"v":"-Infinity"}',
  '{"v":"inf"}',
  '{"v":"0x10"}',
  '{"v":"0b1"}',
  '{"v":"1_000"}',
  '{"v":"x",}',
  '{"v":NaN}',
  '{"v":Infinity}',
  '{"v":"a","v":"b"}',
].map((metadata, id) => ({ id, event: { level: "INFO", service: "edge", hostname: "h", traceId: "", spanId: "", message: "edge", metadata } }));

beforeAll(async () => {
  duck = await Duck.open({ dataDir: root.path, memoryLimit: "256MB", threads: 2 });
  connection = await duck.connect();
  await createTable("events", ROWS);
  await createTable("edge", EDGE_ROWS);
});

afterAll(() => {
  connection?.closeSync();
  duck?.close();
  root.remove();
});

function parseOrThrow(query: string): QueryNode {
  const result = parseQuery(query);
  if (!result.ok || result.query === null) throw new Error(`${query}: ${JSON.stringify(result)}`);
  return result.query;
}

describe("planner SQL in DuckDB and matchesEvent select the same events", () => {
  test("the table holds every event as stored", async () => {
    const rows = await queryRows(
      connection,
      "SELECT count(*)::INTEGER AS n, count(DISTINCT service)::INTEGER AS services, count(DISTINCT level)::INTEGER AS levels, (count(*) FILTER (WHERE NOT json_valid(metadata)))::INTEGER AS not_json FROM events",
    );
    const notJson = ROWS.filter((row) => {
      try {
        JSON.parse(row.event.metadata);
        return false;
      } catch {
        return true;
      }
    });
    expect(rows).toEqual([{ n: 300, services: SERVICES.length, levels: LEVELS.length, not_json: notJson.length }]);
    expect(notJson.length).toBeGreaterThan(5);
  });

  test.each<[string]>([
    ["refused"],
    ["über"],
    ["ÜBER"],
    ["àéîõü"],
    ["95%"],
    ["r_s"],
    ['"C:\\\\temp"'],
    ['"say \\"hi\\""'],
    ["service:api"],
    ["service:api*"],
    ['service:""'],
    ["hostname:Web-1"],
    ["trace_id:4bf92f35*"],
    ["level:>=WARN"],
    ["level:error OR level:trace"],
    ["metadata.user.id:42"],
    ['metadata.user:"{"*'],
    ["metadata.duration_ms:>=500"],
    ["metadata.duration_ms:<1"],
    ["metadata.duration_ms:>=8 metadata.duration_ms:<=8"],
    ["metadata.nested.a.b.c:<0"],
    ["metadata.__proto__:p"],
    ["metadata.0:zero"],
    ["metadata.constructor:c"],
    ["metadata.tags:[]"],
    ['metadata.tags:"[\\"a\\",\\"b\\"]"'],
    ["metadata.nested:\"{\\\"a\\\":{\\\"b\\\":{\\\"c\\\":\\\"7\\\"}}}\""],
    ["NOT service:api* NOT level:INFO"],
  ])("%p", async (query) => {
    const tree = parseOrThrow(query);
    expect(await disagreement("events", ROWS, tree)).toEqual(agreement(printQuery(tree)));
  });

  // These trees put no metadata term under a NOT; the test below allows them (an absent metadata value once made SQL and the evaluator disagree there).
  const TREES = drawTrees(0xc0ffee, 300, { metadataUnderNot: false });

  test("random queries, and their print/parse round trips", async () => {
    expect(await disagreements("events", ROWS, TREES)).toEqual([]);
  });

  // A segment is skipped when its skip index lacks a key the query requires
  // (skip-keys.ts): every row the SQL selects must hold every key of its own that the
  // tree asks for, or a skip would lose it.
  test("the skip keys a query requires are held by every row it selects", async () => {
    const keysOf = new Map<number, Set<string>>();
    for (const row of ROWS) {
      const keys = await queryRows(connection, skipKeysSql(`(SELECT * FROM events WHERE id = ${row.id})`));
      keysOf.set(row.id, new Set(keys.map((key) => String(key.key))));
    }
    const lost: string[] = [];
    let pruning = 0;
    let pairing = 0;
    let pairedSelected = 0;
    // Dashboard-shaped queries too: a service and a level beside a random tree, so (level, service) pairs are required.
    const services = [...new Set(ROWS.map((row) => row.event.service))];
    const paired = TREES.slice(0, 100).map((tree, index) => {
      const level = index % 3 === 0 ? `level:${LEVELS[index % LEVELS.length]}` : index % 3 === 1 ? `level:>=${LEVELS[index % LEVELS.length]}` : `(level:${LEVELS[index % 2]} OR level:<${LEVELS[(index % 4) + 1]})`;
      return parseOrThrow(`service:${JSON.stringify(services[index % services.length])} ${level} (${printQuery(tree)})`);
    });
    for (const tree of [...TREES, ...drawTrees(0xbee, 300, { metadataUnderNot: true }), ...paired]) {
      const required = skipTree({ services: [], levels: [], hostnames: [], traceIds: [], query: tree });
      if (required !== true) pruning++;
      if (JSON.stringify(required).includes('"v:')) pairing++;
      const ids = await sqlIds("events", tree);
      if (paired.includes(tree)) pairedSelected += ids.length;
      for (const id of ids) {
        if (!mayMatch(required, (key) => keysOf.get(id)!.has(key))) lost.push(`${printQuery(tree)} loses row ${id}`);
      }
    }
    expect(lost).toEqual([]);
    expect(pruning).toBeGreaterThan(100);
    console.log(`skip keys: ${pruning} of 700 random queries require keys, ${pairing} a (level, service) pair; the paired ones select ${pairedSelected} rows`);
    expect(pairing).toBeGreaterThan(90);
    expect(pairedSelected).toBeGreaterThan(20);
  }, 60_000); // ~1,000 DuckDB statements: ~4 s on an idle 2-core machine, past bun's 5 s default under load

  test("the random queries are not trivial: most select some events but not all", () => {
    const sizes = TREES.map((tree) => jsIds(ROWS, tree).length);
    const between = sizes.filter((size) => size > 0 && size < ROWS.length).length;
    expect({ between: between >= TREES.length * 0.6, metadata: TREES.filter((tree) => printQuery(tree).includes("metadata.")).length >= TREES.length / 3 }).toEqual({ between: true, metadata: true });
  });
});

describe("edge cases where SQL and matchesEvent once disagreed", () => {
  // A missing metadata path (or metadata that is not JSON) was NULL in SQL, and NOT NULL
  // is NULL, so a WHERE dropped the row while matchesEvent kept it: the planner now
  // makes the term false (COALESCE), as the evaluator does.
  test.each<[string]>([["NOT metadata.missing:x"], ["-metadata.user.id:42"], ["NOT metadata.duration_ms:>500"], ["NOT (service:api OR metadata.region:eu)"], ["NOT metadata.user.id:\"\"*"]])(
    "%p",
    async (query) => {
      const tree = parseOrThrow(query);
      expect(await disagreement("events", ROWS, tree)).toEqual(agreement(printQuery(tree)));
    },
  );

  // The same generator as above, with metadata terms allowed under NOT.
  test("random queries with metadata under NOT", async () => {
    expect(await disagreements("events", ROWS, drawTrees(0xc0ffee, 300, { metadataUnderNot: true }))).toEqual([]);
  });

  // Numbers in strings: DuckDB's TRY_CAST(... AS DOUBLE) reads "NaN", "Infinity", "inf"
  // and "1_000" (NaN sorts above every number, so NaN > 5), which JS's Number() rejects
  // or calls non-finite; JS reads "0x10" and "0b1", which DuckDB does not. JSON:
  // DuckDB's json_valid accepts a trailing comma and NaN/Infinity literals, which
  // JSON.parse rejects, and keeps the first of duplicate keys where JSON.parse keeps
  // the last.
  test.each<[string, string]>([
    ['{"v":"NaN"}', "metadata.v:>5"],
    ['{"v":"Infinity"}', "metadata.v:>5"],
    ['{"v":"-Infinity"}', "metadata.v:<5"],
    ['{"v":"inf"}', "metadata.v:>5"],
    ['{"v":"0x10"}', "metadata.v:>5"],
    ['{"v":"0b1"}', "metadata.v:<5"],
    ['{"v":"1_000"}', "metadata.v:>5"],
    ['{"v":NaN}', "metadata.v:>5"],
    ['{"v":Infinity}', "metadata.v:>5"],
  ])("metadata %s, query %p", async (metadata, query) => {
    const row = EDGE_ROWS.find((edge) => edge.event.metadata === metadata)!;
    const tree = parseOrThrow(query);
    const selected = async () => (await sqlIds("edge", tree)).includes(row.id);
    expect({ metadata, query, selected: await selected() }).toEqual({ metadata, query, selected: matchesEvent(tree, row.event) });
  });

  // Known divergence on metadata that is not canonical JSON, which only a FlatBuffers
  // producer can store (HTTP, NDJSON and the SDK write JSON.stringify output): DuckDB
  // accepts a trailing comma and reads the first of duplicate keys, JSON.parse refuses
  // the one and reads the last of the other. test.failing passes while they differ.
  test.failing.each<[string, string]>([
    ['{"v":"x",}', "metadata.v:x"],
    ['{"v":"a","v":"b"}', "metadata.v:b"],
  ])("metadata %s, query %p", async (metadata, query) => {
    const row = EDGE_ROWS.find((edge) => edge.event.metadata === metadata)!;
    const tree = parseOrThrow(query);
    const selected = async () => (await sqlIds("edge", tree)).includes(row.id);
    expect({ metadata, query, selected: await selected() }).toEqual({ metadata, query, selected: matchesEvent(tree, row.event) });
  });
});
