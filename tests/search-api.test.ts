// Goal: the search and aggregate endpoints filter exactly (service, level, hostname,
// trace_id, words and phrases, time range), return newest first, page with a cursor
// that yields every matching event exactly once even while ingest continues, bound
// the page size, and answer bad parameters with a 400 naming the problem.
// Method: one real node, a known data set ingested over HTTP, answers compared whole.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SEARCH_LIMIT_MAX } from "../src/query/limits.ts";
import { countEvents, getJson, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const BASE_US = Date.UTC(2026, 10, 1, 12) * 1000;
const TOTAL = 3000;
let node: TestNode;

function record(index: number) {
  return {
    timestamp: BASE_US + index * 1000, // 1 ms apart
    level: ["info", "warn", "error"][index % 3],
    service: index % 2 === 0 ? "api" : "worker",
    hostname: `host-${index % 5}`,
    trace_id: `trace-${index}`,
    message: index % 10 === 0 ? `Payment declined for order ${index}` : `request ${index} served`,
    metadata: { index },
  };
}

beforeAll(async () => {
  node = await startTestNode({ shards: 4 });
  const body = Array.from({ length: TOTAL }, (_, index) => JSON.stringify(record(index))).join("\n");
  const { status } = await getJson(`${node.httpUrl}/api/v1/logs`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
  if (status !== 202) throw new Error(`ingest failed: ${status}`);
  await waitFor(async () => (await countEvents(node.httpUrl, "service=api,worker")) === TOTAL, { what: "data set searchable" });
});
afterAll(async () => {
  await node?.stop();
});

const search = (query: string) => getJson(`${node.httpUrl}/api/v1/logs/search?${query}`);
const indexes = (logs: { metadata: { index: number } }[]) => logs.map((log) => log.metadata.index);

describe("search", () => {
  test("filters combine with AND and results are newest first", async () => {
    const { status, body } = await search(`service=api&level=ERROR&hostname=host-0&limit=5`);
    expect(status).toBe(200);
    // index % 2 == 0, % 3 == 2, % 5 == 0  =>  index % 30 == 20
    expect(indexes(body.logs)).toEqual([2990, 2960, 2930, 2900, 2870]);
    expect(body.partial).toBe(false);
    expect(typeof body.took_ms).toBe("number");
  });

  test("trace_id finds one event", async () => {
    const { body } = await search("trace_id=trace-1234");
    expect(indexes(body.logs)).toEqual([1234]);
  });

  test("words and quoted phrases match the message case-insensitively", async () => {
    expect(await countEvents(node.httpUrl, `q=${encodeURIComponent('"payment DECLINED"')}`)).toBe(TOTAL / 10);
    expect(await countEvents(node.httpUrl, `q=${encodeURIComponent("declined order 1230")}`)).toBe(1);
    expect(await countEvents(node.httpUrl, `q=${encodeURIComponent("100%")}`)).toBe(0);
  });

  test("from is inclusive and to exclusive, in RFC 3339 or epoch", async () => {
    const from = new Date((BASE_US + 100_000) / 1000).toISOString();
    const toUs = BASE_US + 200_000;
    expect(await countEvents(node.httpUrl, `from=${from}&to=${toUs}`)).toBe(100);
    expect(await countEvents(node.httpUrl, `from=${Math.floor((BASE_US + 100_000) / 1000)}&to=${Math.floor(toUs / 1000)}`)).toBe(100);
  });

  test("a cursor pages through every match exactly once while ingest goes on", async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const { body } = await search(`service=worker&to=${BASE_US + TOTAL * 1000}&limit=${137}${cursor ? `&cursor=${cursor}` : ""}`);
      seen.push(...indexes(body.logs));
      cursor = body.next_cursor;
      // New events inside the range arrive between pages; they are newer than any cursor position.
      if (page++ === 2) await getJson(`${node.httpUrl}/api/v1/logs`, { method: "POST", body: JSON.stringify({ ...record(TOTAL + 1), timestamp: Date.now() * 1000 }), headers: { "content-type": "application/json" } });
    } while (cursor && page < 100);
    expect(seen.length).toBe(TOTAL / 2);
    expect(new Set(seen).size).toBe(TOTAL / 2);
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
  });

  test("order=oldest pages through every match exactly once, oldest first, and its cursor keeps the order", async () => {
    const seen: number[] = [];
    let cursor: string | null = null;
    let page = 0;
    do {
      const { status, body } = await search(`service=api&level=ERROR&from=${BASE_US}&to=${BASE_US + TOTAL * 1000}&order=oldest&limit=${61}${cursor ? `&cursor=${cursor}` : ""}`);
      expect(status).toBe(200);
      seen.push(...indexes(body.logs));
      cursor = body.next_cursor;
    } while (cursor && ++page < 100);
    const expected = Array.from({ length: TOTAL }, (_, index) => index).filter((index) => index % 2 === 0 && index % 3 === 2);
    expect(seen).toEqual(expected);
    const first = await search(`service=api&order=oldest&limit=5`);
    const { status, body } = await search(`service=api&limit=5&cursor=${first.body.next_cursor}`);
    expect({ status, code: body.error?.code }).toEqual({ status: 400, code: "bad_cursor" });
  });

  test(`limit is capped at ${SEARCH_LIMIT_MAX}`, async () => {
    const { body } = await search(`limit=${SEARCH_LIMIT_MAX * 5}`);
    expect(body.logs.length).toBe(SEARCH_LIMIT_MAX);
    expect(body.next_cursor).not.toBeNull();
  });

  test.each([
    ["level=LOUD", "unknown level"],
    ["from=yesterday", "from"],
    ["from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from must be before to"],
    ["limit=-3", "limit"],
    ["cursor=notacursor", "cursor"],
    [`q=${encodeURIComponent('"unclosed')}`, "expected a closing quote at position 1"],
  ])("bad parameter %s is a 400", async (query, fragment) => {
    const { status, body } = await search(query);
    expect(status).toBe(400);
    expect(body.error.message).toContain(fragment);
  });
});

describe("query language over the API (the language itself: query-language*.test.ts)", () => {
  // A count over the whole data set for each q, computed here from the same records.
  const all = Array.from({ length: TOTAL }, (_, index) => record(index));
  test.each<[string, (r: ReturnType<typeof record>) => boolean]>([
    ["service:api level:ERROR", (r) => r.service === "api" && r.level === "error"],
    ["level:>=WARN", (r) => r.level !== "info"],
    ["service:worker OR hostname:host-0", (r) => r.service === "worker" || r.hostname === "host-0"],
    ["declined -service:api", (r) => r.message.includes("declined") && r.service !== "api"],
    ["NOT (level:INFO OR level:WARN)", (r) => r.level === "error"],
    ["trace_id:trace-12*", (r) => r.trace_id.startsWith("trace-12")],
    ["metadata.index:>=2990", (r) => r.metadata.index >= 2990],
    ["metadata.index:7", (r) => r.metadata.index === 7],
    ['message:"payment declined" level:<WARN', (r) => r.message.toLowerCase().includes("payment declined") && r.level === "info"],
  ])("q=%s counts exactly", async (q, predicate) => {
    // Bounded to the data set's time range: other tests here ingest more events.
    expect(await countEvents(node.httpUrl, `q=${encodeURIComponent(q)}&from=${BASE_US}&to=${BASE_US + TOTAL * 1000}`)).toBe(all.filter(predicate).length);
  });

  test("a syntax error is a 400 with the position and what was expected", async () => {
    const { status, body } = await search(`q=${encodeURIComponent("service:api (level:ERROR")}`);
    expect(status).toBe(400);
    expect(body).toEqual({
      status: "error",
      error: { code: "bad_query", message: 'q: expected ")" to close the "(" at position 13 at position 25, found the end of the query' },
      position: 25,
      expected: '")" to close the "(" at position 13',
    });
  });
});

describe("aggregate", () => {
  test("counts by level are exact", async () => {
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=level&service=api,worker&to=${BASE_US + TOTAL * 1000}`);
    expect(body.aggregations).toEqual({ INFO: 1000, WARN: 1000, ERROR: 1000 });
  });

  test("counts by hostname with filters are exact", async () => {
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=hostname&service=api&level=INFO`);
    // index % 6 == 0: 500 events, spread over host-(index % 5)
    expect(body.aggregations).toEqual({ "host-0": 100, "host-1": 100, "host-2": 100, "host-3": 100, "host-4": 100 });
  });

  test("an unknown group_by is a 400", async () => {
    const { status, body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=metadata`);
    expect(status).toBe(400);
    expect(body.error.message).toContain("group_by");
  });
});
