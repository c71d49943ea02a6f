// Goal: when NATS goes away, HTTP ingest answers 503 with Retry-After (never a 500,
// never a silent drop), and once NATS is back (restarted on the same store) the node
// reconnects and every event acknowledged before and after is searchable exactly once.
// Method: a real nats-server the test controls, a real node using it via --nats-url.

import { afterAll, expect, test } from "bun:test";
import { countEvents, getJson, startTestNats, startTestNode, type TestNats, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

let nats: TestNats | undefined;
let node: TestNode | undefined;
afterAll(async () => {
  await node?.stop();
  await nats?.stop();
});

function ingest(count: number, tag: string) {
  const body = Array.from({ length: count }, (_, index) => JSON.stringify({ service: "restart", hostname: tag, message: `${tag} ${index}` })).join("\n");
  return getJson(`${node!.httpUrl}/api/v1/logs`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
}

test("NATS down: 503 with Retry-After; NATS back: ingest resumes and nothing acked is lost or doubled", async () => {
  nats = await startTestNats();
  node = await startTestNode({ natsUrl: nats.url });
  const before = await ingest(500, "before");
  expect(before.status).toBe(202);
  expect(before.body.accepted).toBe(500);

  await nats.stop();
  const during = await ingest(10, "during");
  expect(during.status).toBe(503);
  expect(during.headers.get("retry-after")).not.toBeNull();
  expect(during.body.error.code).toBe("wal_unavailable");
  const health = await getJson(`${node.httpUrl}/api/v1/system/health`);
  expect(health.body.status).toBe("degraded");

  nats = await nats.restart();
  const after = await waitFor(async () => {
    const response = await ingest(700, "after");
    return response.status === 202 ? response : null;
  }, { timeoutMs: 60_000, intervalMs: 250, what: "ingest to work again after NATS restarted" });
  expect(after.body.accepted).toBe(700);

  await waitFor(async () => (await countEvents(node!.httpUrl, "service=restart")) >= 1200, { timeoutMs: 60_000, what: "all events searchable" });
  const { body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=hostname&service=restart`);
  expect(body.aggregations).toEqual({ before: 500, after: 700 });
}, 180_000);
