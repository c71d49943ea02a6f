// Goal: every way an ingest request can be bad or too much gets a clear error with
// the right status (400, 413, 415, 429 with Retry-After), never a 500, and good
// events of a partly bad batch are kept. Method: one real node over HTTP sockets.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { gzipSync, zstdCompressSync } from "node:zlib";
import { INGEST_REQUESTS_IN_FLIGHT_MAX } from "../src/ingest/ingest-gateway.ts";
import { INGEST_BODY_BYTES_MAX, INGEST_DECOMPRESSED_BYTES_MAX, INGEST_LINE_BYTES_MAX } from "../src/ingest/limits.ts";
import { WAL_STRING_BYTES_MAX } from "../src/protocol/limits.ts";
import { getJson, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode();
});
afterAll(async () => {
  await node?.stop();
});

function post(body: string | Uint8Array, headers: Record<string, string>, path = "/api/v1/logs") {
  return getJson(`${node.httpUrl}${path}`, { method: "POST", body, headers });
}

describe("ingest errors", () => {
  test.each([
    ["malformed JSON body", "{\"message\": ", { "content-type": "application/json" }, 400, "invalid_json"],
    ["empty body", "", { "content-type": "application/json" }, 400, "empty_body"],
    ["a scalar", "42", { "content-type": "application/json" }, 400, "invalid_json"],
    ["no valid event at all", JSON.stringify([{ message: 1 }, "x"]), { "content-type": "application/json" }, 400, "no_valid_events"],
    ["unknown content type", "hello", { "content-type": "application/xml" }, 415, "unsupported_media_type"],
    ["no content type", "hello", {}, 415, "unsupported_media_type"],
    ["unknown content encoding", "hello", { "content-type": "text/plain", "content-encoding": "br" }, 415, "unsupported_encoding"],
    ["corrupt gzip", "not gzip at all", { "content-type": "text/plain", "content-encoding": "gzip" }, 400, "bad_compression"],
    ["corrupt zstd", "not zstd at all", { "content-type": "text/plain", "content-encoding": "zstd" }, 400, "bad_compression"],
  ])("%s", async (_, body, headers, status, code) => {
    const response = await post(body, headers as Record<string, string>);
    expect(response.status).toBe(status as number);
    expect(response.body.status).toBe("error");
    expect(response.body.error.code).toBe(code as string);
    expect(response.body.error.message.length).toBeGreaterThan(5);
  });

  test("wrong types are named per line and the good lines are kept", async () => {
    const body = [JSON.stringify({ service: "types", message: "ok 1" }), JSON.stringify({ service: 5, message: "bad" }), JSON.stringify({ service: "types", message: "ok 2", timestamp: "yesterday" }), JSON.stringify({ service: "types", message: "ok 3", metadata: [1] })].join("\n");
    const response = await post(body, { "content-type": "application/x-ndjson" });
    expect(response.status).toBe(202);
    expect(response.body.accepted).toBe(1);
    expect(response.body.rejected.map((rejection: { line: number }) => rejection.line)).toEqual([2, 3, 4]);
    expect(response.body.rejected[0].error).toContain('"service"');
    expect(response.body.rejected[1].error).toContain("yesterday");
    expect(response.body.rejected[2].error).toContain('"metadata"');
  });

  test("a body over the limit is 413 before it is read", async () => {
    const response = await fetch(`${node.httpUrl}/api/v1/logs`, { method: "POST", body: new Uint8Array(INGEST_BODY_BYTES_MAX + 10), headers: { "content-type": "text/plain" } });
    expect(response.status).toBe(413);
  });

  test("a line over the limit is 413 naming the line", async () => {
    const body = `${JSON.stringify({ message: "fine" })}\n${JSON.stringify({ message: "x".repeat(INGEST_LINE_BYTES_MAX + 1) })}\n`;
    const response = await post(body, { "content-type": "application/x-ndjson" });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe("line_too_long");
    expect(response.body.error.message).toContain("2");
  });

  test("an array element whose message or metadata is over the WAL's string limit is rejected alone, not a 500", async () => {
    const tooLong = "é".repeat(WAL_STRING_BYTES_MAX / 2 + 1); // 2 UTF-8 bytes each: over the limit in bytes, not in characters
    const body = JSON.stringify([
      { service: "string-limit", message: "ok" },
      { service: "string-limit", message: tooLong },
      { service: "string-limit", message: "metadata grows", metadata: { numbers: Array.from({ length: 40_000 }, () => 1e5) } },
    ]);
    const response = await post(body, { "content-type": "application/json" });
    expect(response.status).toBe(202);
    expect(response.body.accepted).toBe(1);
    expect(response.body.rejected).toEqual([
      { line: 2, error: `field "message" is ${WAL_STRING_BYTES_MAX + 2} bytes, over the limit of ${WAL_STRING_BYTES_MAX} bytes` },
      { line: 3, error: `metadata is ${JSON.stringify({ numbers: Array.from({ length: 40_000 }, () => 1e5) }).length} bytes as JSON, over the limit of ${WAL_STRING_BYTES_MAX} bytes` },
    ]);
  });

  test("a request whose events encode past one WAL batch's byte limit is split into several batches", async () => {
    // Distinct 8 KiB messages (the encoder shares repeated strings): a default slice of 2,000 passes the 8 MiB batch limit.
    const body = Array.from({ length: 2000 }, (_, index) => JSON.stringify({ service: "big-batch", message: `${index} ${"m".repeat(8 * 1024)}` })).join("\n");
    const response = await post(body, { "content-type": "application/x-ndjson" });
    expect({ status: response.status, accepted: response.body.accepted, rejected: response.body.rejected }).toEqual({ status: 202, accepted: 2000, rejected: [] });
  });

  test("a zstd bomb is stopped at the decompressed limit", async () => {
    const bomb = zstdCompressSync(Buffer.alloc(INGEST_DECOMPRESSED_BYTES_MAX + 1024 * 1024, 0x61));
    expect(bomb.byteLength).toBeLessThan(2 * 1024 * 1024);
    const response = await post(bomb, { "content-type": "text/plain", "content-encoding": "zstd" });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe("decompressed_too_large");
  });

  test("a gzip bomb is stopped at the decompressed limit", async () => {
    const bomb = gzipSync(Buffer.alloc(INGEST_DECOMPRESSED_BYTES_MAX + 1024 * 1024, 0x61), { level: 9 });
    expect(bomb.byteLength).toBeLessThan(2 * 1024 * 1024);
    const response = await post(bomb, { "content-type": "text/plain", "content-encoding": "gzip" });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe("decompressed_too_large");
  });

  test("unknown routes and methods", async () => {
    expect((await getJson(`${node.httpUrl}/api/v1/nope`)).status).toBe(404);
    expect((await getJson(`${node.httpUrl}/api/v1/logs`)).status).toBe(405);
  });

  test(`past ${INGEST_REQUESTS_IN_FLIGHT_MAX} requests in flight the next one gets 429 with Retry-After`, async () => {
    // Raw sockets send headers and half a body, so each request is in flight on the
    // server until the test sends the rest.
    const { hostname, port } = new URL(node.httpUrl);
    const line = JSON.stringify({ service: "slow", message: "held" });
    const half = Math.floor(line.length / 2);
    const replies: string[] = [];
    const sockets = await Promise.all(
      Array.from({ length: INGEST_REQUESTS_IN_FLIGHT_MAX }, (_, index) =>
        Bun.connect({
          hostname,
          port: Number(port),
          socket: {
            data(_socket, data) {
              replies[index] = (replies[index] ?? "") + data.toString();
            },
          },
        }),
      ),
    );
    for (const socket of sockets) {
      socket.write(`POST /api/v1/logs HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: application/x-ndjson\r\nContent-Length: ${line.length}\r\n\r\n${line.slice(0, half)}`);
    }
    try {
      await waitFor(async () => {
        const { body } = await getJson(`${node.httpUrl}/api/v1/system/health`);
        return body.ingest.requestsInFlight === INGEST_REQUESTS_IN_FLIGHT_MAX;
      }, { what: "all slow requests in flight" });
      const refused = await post(JSON.stringify({ message: "one too many" }), { "content-type": "application/json" });
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("1");
      for (const socket of sockets) socket.write(line.slice(half));
      await waitFor(() => replies.filter((reply) => reply?.startsWith("HTTP/1.1 202")).length === INGEST_REQUESTS_IN_FLIGHT_MAX, { what: "every held request accepted" });
    } finally {
      for (const socket of sockets) socket.end();
    }
  });
});
