// Goal: a node starts and stops like a well-behaved service: SIGTERM during ingest
// stops intake, seals and acks, exits 0 and takes its nats-server child with it (so a
// restart replays nothing); a second node on the same data directory is refused; a
// machine without nats-server gets a message saying how to install it.
// Method: real node processes; the WAL is inspected through the health API.

import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { countEvents, getJson, isAlive as alive, natsPidOf, ROOT, startTestNode, tempDir, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const nodes: TestNode[] = [];
afterAll(async () => {
  for (const node of nodes) await node.stop();
});

test("SIGTERM during ingest: exit 0, no orphan, and a restart has nothing left to replay", async () => {
  const dataDir = tempDir("lifecycle").path;
  const node = await startTestNode({ dataDir, extraArgs: ["--seal-age-ms", "20000"] });
  const natsPid = natsPidOf(dataDir);
  expect(alive(natsPid)).toBe(true);
  let accepted = 0;
  for (let round = 0; round < 10; round++) {
    const body = Array.from({ length: 300 }, (_, index) => JSON.stringify({ service: "lifecycle", message: `r${round} e${index}` })).join("\n");
    const { status, body: answer } = await getJson(`${node.httpUrl}/api/v1/logs`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
    expect(status).toBe(202);
    accepted += answer.accepted;
  }
  // Seals are 20 s apart, so these rows are in memtables, unsealed and unacked, when SIGTERM arrives.
  expect(await node.stop()).toBe(0);
  await waitFor(() => !alive(natsPid), { timeoutMs: 20_000, what: "the nats-server child to exit" });

  const again = await startTestNode({ dataDir });
  nodes.push(again);
  const { body: health } = await getJson(`${again.httpUrl}/api/v1/system/health`);
  expect(health.storage_utilization.wal.messages).toBe(0);
  expect(await countEvents(again.httpUrl, "service=lifecycle")).toBe(accepted);
}, 120_000);

test("a second node on the same data directory is refused with a clear message", async () => {
  const dataDir = tempDir("lock").path;
  const first = await startTestNode({ dataDir });
  nodes.push(first);
  const second = Bun.spawnSync([process.execPath, join(ROOT, "src/main.ts"), "--data-dir", dataDir, "--http-port", "0", "--nats-port", "0"], { stderr: "pipe", stdout: "pipe" });
  expect(second.exitCode).toBe(1);
  expect(second.stderr.toString()).toContain(`is in use by process ${first.pid}`);
});

test("without nats-server on PATH the node says how to install it", async () => {
  const dataDir = tempDir("nonats").path;
  const result = Bun.spawnSync([process.execPath, join(ROOT, "src/main.ts"), "--data-dir", dataDir, "--http-port", "0", "--nats-port", "0"], { stderr: "pipe", stdout: "pipe", env: { ...process.env, PATH: "/nonexistent" } });
  expect(result.exitCode).toBe(1);
  expect(result.stderr.toString()).toContain("apt-get install nats-server");
  expect(result.stderr.toString()).toContain("SLUICE_NATS_URL");
});

test("bad configuration exits 2 naming the flag and variable", () => {
  const result = Bun.spawnSync([process.execPath, join(ROOT, "src/main.ts"), "--shards", "0"], { stderr: "pipe", stdout: "pipe" });
  expect(result.exitCode).toBe(2);
  expect(result.stderr.toString()).toContain("--shards / SLUICE_SHARDS: 0 is outside 1..1024");
});
