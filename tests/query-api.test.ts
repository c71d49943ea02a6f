// Goal: the query gateway's newer endpoints work as a user tries them: field projection,
// the context around one event, aggregations (several group_by fields, metadata paths,
// histograms, functions), export as NDJSON and CSV that streams a page at a time and
// resumes from a record's cursor, and query time budgets and cancellation.
// Method: one real node with 2 shards, a known data set ingested over HTTP, answers
// compared whole; the export's memory bound is read from the node's health counters
// while the client holds back.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { EXPORT_PAGE_EVENTS } from "../src/query/export.ts";
import { countEvents, getJson, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const BASE_US = Date.UTC(2026, 10, 1, 12) * 1000;
const TOTAL = 4000;
let node: TestNode;

function record(index: number) {
  return {
    timestamp: BASE_US + index * 1000,
    level: ["info", "warn", "error"][index % 3],
    service: index % 2 === 0 ? "api" : "worker",
    hostname: `host-${index % 5}`,
    trace_id: `trace-${index % 700}`,
    message: index % 10 === 0 ? `Payment declined, "card" ${index}` : `request ${index} served`,
    metadata: { index, duration_ms: index % 100, http: { status: index % 4 === 0 ? 500 : 200 } },
  };
}

beforeAll(async () => {
  node = await startTestNode({ shards: 2 });
  const body = Array.from({ length: TOTAL }, (_, index) => JSON.stringify(record(index))).join("\n");
  const { status } = await getJson(`${node.httpUrl}/api/v1/logs`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
  if (status !== 202) throw new Error(`ingest failed: ${status}`);
  await waitFor(async () => (await countEvents(node.httpUrl, "service=api,worker")) === TOTAL, { what: "data set searchable" });
  // A day later, 1,200 events a second apart over 20 minutes, for the per-minute counters.
  const spread = Array.from({ length: SPREAD }, (_, index) => JSON.stringify({ timestamp: SPREAD_US + index * 1_000_000 + 123, level: ["info", "error"][index % 2], service: `spread-${index % 3}`, message: "tick" })).join("\n");
  await getJson(`${node.httpUrl}/api/v1/logs`, { method: "POST", body: spread, headers: { "content-type": "application/x-ndjson" } });
  await waitFor(async () => (await countEvents(node.httpUrl, "service=spread-0,spread-1,spread-2")) === SPREAD, { what: "spread searchable" });
});
const SPREAD = 1200;
const SPREAD_US = BASE_US + 86_400_000_000;
afterAll(async () => {
  await node?.stop();
});

const api = (path: string) => getJson(`${node.httpUrl}/api/v1/logs/${path}`);

describe("fields", () => {
  test("returns the id and the named fields only", async () => {
    const { status, body } = await api("search?trace_id=trace-10&fields=service,metadata,timestamp&limit=2");
    expect(status).toBe(200);
    expect(body.logs.map((log: Record<string, unknown>) => Object.keys(log).sort())).toEqual([
      ["id", "metadata", "service", "timestamp"],
      ["id", "metadata", "service", "timestamp"],
    ]);
    expect(body.logs[0].metadata.index % 700).toBe(10);
  });

  test("an unknown field is a 400 listing the fields", async () => {
    const { status, body } = await api("search?fields=service,secret");
    expect(status).toBe(400);
    expect(body.error.message).toContain('fields: "secret" is not one of id, timestamp');
  });
});

describe("context", () => {
  test("returns the events before and after one event in the same service and host, oldest first", async () => {
    const { body: hit } = await api("search?trace_id=trace-400&service=api&limit=10&order=oldest");
    const anchor = hit.logs.find((log: { metadata: { index: number } }) => log.metadata.index === 1100);
    const { status, body } = await api(`context?id=${anchor.id}&before=3&after=2`);
    expect(status).toBe(200);
    // Same stream: service api (even) and host-0 (index % 5 == 0): every 10th index.
    expect(body.anchor.metadata.index).toBe(1100);
    expect(body.before.map((log: { metadata: { index: number } }) => log.metadata.index)).toEqual([1070, 1080, 1090]);
    expect(body.after.map((log: { metadata: { index: number } }) => log.metadata.index)).toEqual([1110, 1120]);
    expect(body.partial).toBe(false);
  });

  test("an unknown id is a 404, a malformed one a 400", async () => {
    expect((await api(`context?id=${"0".repeat(30)}`)).status).toBe(404);
    const bad = await api("context?id=nope");
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain("is not an event id");
    expect((await api("context")).status).toBe(400);
  });
});

describe("aggregate", () => {
  test("count by service and level, with a percentile and a distinct count", async () => {
    const { status, body } = await api("aggregate?service=api,worker&group_by=service,level&agg=p50(metadata.duration_ms),count_distinct(trace_id),max(metadata.duration_ms)");
    expect(status).toBe(200);
    expect(body.aggregations).toBeUndefined();
    const byKey = new Map(body.buckets.map((bucket: Record<string, unknown>) => [`${bucket.service}/${bucket.level}`, bucket]));
    expect(byKey.size).toBe(6);
    const apiError = byKey.get("api/ERROR") as Record<string, number>;
    const rows = Array.from({ length: TOTAL }, (_, index) => index).filter((index) => index % 2 === 0 && index % 3 === 2);
    expect(apiError.count).toBe(rows.length);
    expect(apiError["count_distinct(trace_id)"]).toBe(new Set(rows.map((index) => index % 700)).size);
    expect(apiError["max(metadata.duration_ms)"]).toBe(98);
    expect(Math.abs(apiError["p50(metadata.duration_ms)"] - 50)).toBeLessThanOrEqual(1);
    expect(body.rows_scanned).toBeGreaterThanOrEqual(0);
  });

  test("a histogram by a metadata path", async () => {
    const from = new Date(BASE_US / 1000).toISOString();
    const to = new Date((BASE_US + TOTAL * 1000) / 1000).toISOString();
    const { status, body } = await api(`aggregate?interval=1s&group_by=metadata.http.status&from=${from}&to=${to}`);
    expect(status).toBe(200);
    // 4,000 events 1 ms apart: 4 one-second buckets, a quarter of each with status 500.
    expect(body.buckets.map((bucket: Record<string, unknown>) => [bucket.time, bucket["metadata.http.status"], bucket.count])).toEqual(
      [0, 1, 2, 3].flatMap((second) => {
        const time = new Date(BASE_US / 1000 + second * 1000).toISOString().replace(".000Z", ".000000Z");
        return [
          [time, "200", 750],
          [time, "500", 250],
        ];
      }),
    );
  });

  test("the seed shape is kept for one group_by", async () => {
    const { body } = await api("aggregate?group_by=level&service=api,worker");
    expect(body.aggregations).toEqual({ ERROR: 1333, INFO: 1334, WARN: 1333 });
    expect(body.group_by).toBe("level");
  });
});

async function readAll(response: Response): Promise<string> {
  return await response.text();
}

describe("per-minute counters", () => {
  const iso = (us: number) => new Date(us / 1000).toISOString();
  test.each<[string, string]>([
    ["unaligned edges", `from=${iso(SPREAD_US + 90_500_000)}&to=${iso(SPREAD_US + 1_000_700_000)}`],
    ["aligned edges", `from=${iso(SPREAD_US)}&to=${iso(SPREAD_US + 600_000_000)}`],
    ["inside one minute", `from=${iso(SPREAD_US + 61_000_000)}&to=${iso(SPREAD_US + 62_500_000)}`],
    ["a day wide", `from=${iso(SPREAD_US - 43_200_000_000 + 30_000_000)}&to=${iso(SPREAD_US + 43_200_000_000)}`],
  ])("count by service and level answers from them, exactly as a scan: %s", async (_name, range) => {
    for (const shape of ["group_by=service,level", "group_by=level&interval=1m", "group_by=service&interval=5m&level=ERROR"]) {
      const counted = await api(`aggregate?${shape}&${range}`);
      const scanned = await api(`aggregate?${shape}&${range}&counters=false`);
      expect(counted.status).toBe(200);
      expect(counted.body.from_counters).toBe(true);
      expect(scanned.body.from_counters).toBe(false);
      expect(counted.body.buckets).toEqual(scanned.body.buckets);
    }
  });

  test("the counters hold exactly the events", async () => {
    const { body } = await api(`aggregate?group_by=service&from=${new Date(SPREAD_US / 1000).toISOString()}`);
    expect(body.from_counters).toBe(true);
    expect(body.aggregations).toEqual({ "spread-0": 400, "spread-1": 400, "spread-2": 400 });
  });

  test("other shapes scan", async () => {
    expect((await api("aggregate?group_by=hostname")).body.from_counters).toBe(false);
    expect((await api("aggregate?group_by=service&q=tick")).body.from_counters).toBe(false);
    expect((await api("aggregate?group_by=service&counters=maybe")).status).toBe(400);
  });
});

describe("export", () => {
  test("NDJSON: every match exactly once, in order, each with a cursor that resumes after it", async () => {
    const response = await fetch(`${node.httpUrl}/api/v1/logs/export?service=worker&order=oldest&fields=message`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/x-ndjson");
    const lines = (await readAll(response)).trimEnd().split("\n").map((line) => JSON.parse(line));
    expect(lines.length).toBe(TOTAL / 2);
    expect(lines.map((line) => Number(/request (\d+)|(\d+)$/.exec(line.message)!.slice(1).find(Boolean)))).toEqual(Array.from({ length: TOTAL / 2 }, (_, index) => index * 2 + 1));
    const resumed = await fetch(`${node.httpUrl}/api/v1/logs/export?service=worker&order=oldest&fields=message&cursor=${lines[1233].cursor}`);
    const rest = (await readAll(resumed)).trimEnd().split("\n").map((line) => JSON.parse(line));
    expect(rest.map((line) => line.id)).toEqual(lines.slice(1234).map((line) => line.id));
  });

  test("CSV: a header, quoted cells, the same rows", async () => {
    const response = await fetch(`${node.httpUrl}/api/v1/logs/export?format=csv&q=declined&fields=service,message,metadata&order=oldest`);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    const text = await readAll(response);
    const lines = text.split("\r\n");
    expect(lines[0]).toBe("service,message,metadata,cursor");
    expect(lines[1]).toStartWith(`api,"Payment declined, ""card"" 0","{""index"":0,""duration_ms"":0,""http"":{""status"":500}}",`);
    expect(lines.length - 2).toBe(TOTAL / 10);
  });

  test("a client that holds back holds the server to about one page", async () => {
    const health = async () => (await getJson(`${node.httpUrl}/api/v1/system/health`)).body.export;
    const before = (await health()).events;
    const response = await fetch(`${node.httpUrl}/api/v1/logs/export?service=api,worker`);
    const reader = response.body!.getReader();
    await reader.read();
    // However long the client waits, the server fetched at most the page read and one more (a socket buffer's worth).
    await waitFor(async () => (await health()).events - before >= EXPORT_PAGE_EVENTS, { what: "first page fetched" });
    expect((await health()).events - before).toBeLessThanOrEqual(2 * EXPORT_PAGE_EVENTS);
    expect((await health()).active).toBe(1);
    await reader.cancel();
    await waitFor(async () => (await health()).active === 0, { what: "export released" });
  });

  test("a bad format is a 400", async () => {
    const { status, body } = await api("export?format=xml");
    expect(status).toBe(400);
    expect(body.error.message).toBe('format: "xml" is not one of ndjson, csv');
  });
});

describe("time budgets", () => {
  test("timeout_ms out of range is a 400", async () => {
    expect((await api("search?timeout_ms=0")).status).toBe(400);
    expect((await api("search?timeout_ms=600000")).status).toBe(400);
  });
});

describe("tail through the node's own route", () => {
  test("a matching event posted after ready arrives as an SSE log frame with its search id", async () => {
    const abort = new AbortController();
    const response = await fetch(`${node.httpUrl}/api/v1/logs/tail?q=${encodeURIComponent("service:tailme level:ERROR")}`, { signal: abort.signal });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    let text = "";
    const until = async (pattern: RegExp) => {
      const deadline = Date.now() + 10_000;
      while (!pattern.test(text)) {
        if (Date.now() > deadline) throw new Error(`no ${pattern} in ${JSON.stringify(text)}`);
        const { value, done } = await reader.read();
        if (done) throw new Error("tail ended");
        text += decoder.decode(value, { stream: true });
      }
    };
    await until(/event: ready/);
    const post = (record: object) => getJson(`${node.httpUrl}/api/v1/logs`, { method: "POST", body: JSON.stringify(record), headers: { "content-type": "application/json" } });
    await post({ service: "tailme", level: "info", message: "not this one" });
    await post({ service: "tailme", level: "error", message: "this one" });
    await until(/event: log\nid: [0-9a-f]{30}\ndata: .*\n\n/);
    const data = JSON.parse(/event: log\nid: [0-9a-f]{30}\ndata: (.*)\n/.exec(text)![1]);
    expect(data).toMatchObject({ service: "tailme", level: "ERROR", message: "this one" });
    expect(text).not.toContain("not this one");
    abort.abort();
    await waitFor(async () => (await getJson(`${node.httpUrl}/api/v1/system/health`)).body.tail.sessions === 0, { what: "tail released" });
  });
});

describe("readiness", () => {
  // The flow controller's snapshot has a `state` (open or pause) of its own; it once
  // overwrote the supervisor's "running", so every node answered 503 not_ready.
  test("a running node is ready and healthy", async () => {
    const ready = await getJson(`${node.httpUrl}/readyz`);
    expect(ready).toMatchObject({ status: 200, body: { status: "ready", reasons: [] } });
    const { body } = await getJson(`${node.httpUrl}/api/v1/system/health`);
    expect(body.status).toBe("healthy");
    expect(body.actors.every((actor: { state: string }) => actor.state === "running")).toBe(true);
  });
});
