// Goal: every body format POST /api/v1/logs accepts (one JSON object, a JSON array,
// NDJSON, plain text lines, each optionally gzip- or zstd-compressed) is acknowledged only
// after JetStream stored it and then found by search with its fields normalized.
// Method: one real node (own nats-server child) over HTTP sockets; wait on search.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { getJson, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode();
});
afterAll(async () => {
  await node?.stop();
});

async function post(body: string | Uint8Array, contentType: string, query = "", headers: Record<string, string> = {}) {
  return getJson(`${node.httpUrl}/api/v1/logs${query}`, { method: "POST", body, headers: { "content-type": contentType, ...headers } });
}

async function searchOne(params: string) {
  return waitFor(async () => {
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/search?${params}`);
    return body.logs?.length ? body.logs : null;
  }, { what: `search ${params}` });
}

describe("ingest formats", () => {
  test("one JSON object, with unknown fields kept in metadata", async () => {
    const { status, body } = await post(
      JSON.stringify({ timestamp: "2026-11-21T10:00:00.123456Z", level: "warning", service: "payment-service", hostname: "pay-1", trace_id: "trace-json-object", span_id: "s1", message: "card declined", metadata: { order: 7 }, region: "eu-west" }),
      "application/json",
    );
    expect(status).toBe(202);
    expect(body).toEqual({ status: "success", message: "Log received", accepted: 1, rejected: [] });
    const [event] = await searchOne("trace_id=trace-json-object");
    expect(event).toEqual({
      id: event.id,
      timestamp: "2026-11-21T10:00:00.123456Z",
      ingest_ts: event.ingest_ts,
      tenant: "default",
      level: "WARN",
      service: "payment-service",
      hostname: "pay-1",
      trace_id: "trace-json-object",
      span_id: "s1",
      message: "card declined",
      metadata: { order: 7, region: "eu-west" },
    });
    expect(event.id).toMatch(/^[0-9a-f]{30}$/);
  });

  test("a JSON array with epoch timestamps in s, ms, µs and ns", async () => {
    const base = 1_763_719_200; // 2025-11-21T10:00:00Z
    const records = [base, base * 1e3, base * 1e6, `${base}000000000`].map((timestamp, index) => ({ timestamp, level: "info", service: "epochs", message: `epoch ${index}` }));
    const { status, body } = await post(JSON.stringify(records), "application/json");
    expect(status).toBe(202);
    expect(body.accepted).toBe(4);
    const logs = await waitFor(async () => {
      const { body: found } = await getJson(`${node.httpUrl}/api/v1/logs/search?service=epochs`);
      return found.logs?.length === 4 ? found.logs : null;
    });
    expect(logs.map((log: { timestamp: string }) => log.timestamp)).toEqual(Array(4).fill("2025-11-21T10:00:00.000000Z"));
  });

  test("NDJSON keeps good lines and reports bad ones by line number", async () => {
    const lines = [
      JSON.stringify({ level: "error", service: "ndjson-svc", message: "first" }),
      "{not json",
      JSON.stringify({ level: "error", service: "ndjson-svc", message: 42 }),
      "",
      JSON.stringify({ level: "E", service: "ndjson-svc", message: "second" }),
    ].join("\n");
    const { status, body } = await post(lines, "application/x-ndjson");
    expect(status).toBe(202);
    expect(body.accepted).toBe(2);
    expect(body.rejected.map((rejection: { line: number }) => rejection.line)).toEqual([2, 3]);
    expect(body.rejected[1].error).toContain("message");
    const logs = await waitFor(async () => {
      const { body: found } = await getJson(`${node.httpUrl}/api/v1/logs/search?service=ndjson-svc&level=ERROR`);
      return found.logs?.length === 2 ? found.logs : null;
    });
    expect(logs.map((log: { message: string }) => log.message).sort()).toEqual(["first", "second"]);
  });

  test("plain text lines take service and hostname from the query and lift time and level", async () => {
    const text = "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster\r\n2015-10-18 18:01:48,963 WARN [main] retrying\n";
    const { status, body } = await post(text, "text/plain; charset=utf-8", "?service=hadoop&hostname=node-7");
    expect(status).toBe(202);
    expect(body.accepted).toBe(2);
    const logs = await waitFor(async () => {
      const { body: found } = await getJson(`${node.httpUrl}/api/v1/logs/search?service=hadoop&hostname=node-7`);
      return found.logs?.length === 2 ? found.logs : null;
    });
    expect(logs.map((log: { timestamp: string; level: string; message: string }) => [log.timestamp, log.level, log.message])).toEqual([
      ["2015-10-18T18:01:48.963000Z", "WARN", "2015-10-18 18:01:48,963 WARN [main] retrying"],
      ["2015-10-18T18:01:47.978000Z", "INFO", "2015-10-18 18:01:47,978 INFO [main] org.apache.hadoop.mapreduce.v2.app.MRAppMaster: Created MRAppMaster"],
    ]);
  });

  test("gzip-compressed NDJSON", async () => {
    const lines = Array.from({ length: 500 }, (_, index) => JSON.stringify({ service: "gzip-svc", message: `compressed ${index}` })).join("\n");
    const { status, body } = await post(gzipSync(lines), "application/x-ndjson", "", { "content-encoding": "gzip" });
    expect(status).toBe(202);
    expect(body.accepted).toBe(500);
    await waitFor(async () => {
      const { body: aggregate } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=service&service=gzip-svc`);
      return aggregate.aggregations?.["gzip-svc"] === 500;
    });
  });

  test("zstd-compressed NDJSON", async () => {
    const lines = Array.from({ length: 500 }, (_, index) => JSON.stringify({ service: "zstd-svc", message: `compressed ${index}` })).join("\n");
    const { status, body } = await post(zstdCompressSync(lines), "application/x-ndjson", "", { "content-encoding": "zstd" });
    expect(status).toBe(202);
    expect(body.accepted).toBe(500);
    await waitFor(async () => {
      const { body: aggregate } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=service&service=zstd-svc`);
      return aggregate.aggregations?.["zstd-svc"] === 500;
    });
  });

  test("a retry with the same Idempotency-Key is stored once", async () => {
    const body = JSON.stringify([{ service: "idem-svc", message: "once" }]);
    for (let attempt = 0; attempt < 3; attempt++) {
      const response = await post(body, "application/json", "", { "idempotency-key": "request-123" });
      expect(response.status).toBe(202);
    }
    await post(JSON.stringify({ service: "idem-svc", message: "marker" }), "application/json");
    await searchOne("service=idem-svc&q=marker");
    const { body: aggregate } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=service&service=idem-svc`);
    expect(aggregate.aggregations).toEqual({ "idem-svc": 2 });
  });
});
