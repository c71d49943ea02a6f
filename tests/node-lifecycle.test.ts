// Goal: a node starts and stops like a well-behaved service: SIGTERM during ingest
// stops intake, seals and acks, exits 0 and takes its nats-server child with it (so a
// restart replays nothing); a second node on the same data directory is refused; a
// machine without nats-server gets a message saying how to install it.
// Method: real node processes; the WAL is inspected through the health API.

import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { readdirSync, readFileSync } from "node:fs";
import { WORKER_POOL_THREADS } from "../src/node/worker-pool.ts";
import { countEvents, getJson, isAlive as alive, natsPidOf, ROOT, startTestNode, tempDir, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const nodes: TestNode[] = [];
afterAll(async () => {
  for (const node of nodes) await node.stop();
});

/** Posts `count` events of `service` for round `round` as one NDJSON body; resolves how many were accepted. */
async function postRound(httpUrl: string, service: string, round: number, count: number): Promise<number> {
  const body = Array.from({ length: count }, (_, index) => JSON.stringify({ service, message: `r${round} e${index}` })).join("\n");
  const { status, body: answer } = await getJson(`${httpUrl}/api/v1/logs`, { method: "POST", body, headers: { "content-type": "application/x-ndjson" } });
  expect(status).toBe(202);
  return answer.accepted;
}

test("SIGTERM during ingest: exit 0, no orphan, and a restart has nothing left to replay", async () => {
  const dataDir = tempDir("lifecycle").path;
  const node = await startTestNode({ dataDir, extraArgs: ["--seal-age-ms", "20000"] });
  const natsPid = natsPidOf(dataDir);
  expect(alive(natsPid)).toBe(true);
  let accepted = 0;
  for (let round = 0; round < 10; round++) {
    accepted += await postRound(node.httpUrl, "lifecycle", round, 300);
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

/** UV_THREADPOOL_SIZE in a process's environment, and how many threads of Bun's worker pool it runs. */
function workerPool(pid: number): { env: string | undefined; threads: number } {
  const environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
  const env = environ.find((entry) => entry.startsWith("UV_THREADPOOL_SIZE="))?.slice("UV_THREADPOOL_SIZE=".length);
  const threads = readdirSync(`/proc/${pid}/task`).filter((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/comm`, "utf8").startsWith("Bun Pool");
    } catch {
      return false; // the thread ended meanwhile
    }
  }).length;
  return { env, threads };
}

test("a node re-execs itself (same pid) with a worker pool for its seals and every shard's query; an operator's own size is kept", async () => {
  const node = await startTestNode({ env: { UV_THREADPOOL_SIZE: "" } });
  nodes.push(node);
  // Bun starts pool threads as statements need them, up to the size.
  const queries = await Promise.all(Array.from({ length: 4 }, () => countEvents(node.httpUrl, "service=nobody")));
  expect(queries).toEqual([0, 0, 0, 0]);
  const pool = workerPool(node.pid);
  expect(pool.env).toBe(String(WORKER_POOL_THREADS));
  expect(pool.threads).toBeGreaterThan(0);
  expect(pool.threads).toBeLessThanOrEqual(WORKER_POOL_THREADS);

  const own = await startTestNode({ env: { UV_THREADPOOL_SIZE: "3" } });
  nodes.push(own);
  expect(await countEvents(own.httpUrl, "service=nobody")).toBe(0);
  expect(workerPool(own.pid).env).toBe("3");
  expect(workerPool(own.pid).threads).toBeLessThanOrEqual(3);
}, 60_000);

test("a shard that sealed nothing for --compaction-idle-ms merges its few small segments, every event still there once", async () => {
  const node = await startTestNode({ shards: 1, extraArgs: ["--seal-age-ms", "200", "--compaction-idle-ms", "1500"] });
  nodes.push(node);
  const segments = async () => (await getJson(`${node.httpUrl}/api/v1/system/health`)).body.storage_utilization.segments as number;
  let accepted = 0;
  for (let round = 0; round < 3; round++) {
    accepted += await postRound(node.httpUrl, "idle-compaction", round, 50);
    // Each round is sealed into a segment of its own before the next is sent.
    await waitFor(async () => (await segments()) === round + 1, { timeoutMs: 20_000, what: `segment ${round + 1}` });
  }
  // Three segments are far below the 16 a compaction after a seal waits for; idle, the shard merges them.
  await waitFor(async () => (await segments()) === 1, { timeoutMs: 30_000, what: "the idle shard's segments merged into one" });
  expect(await countEvents(node.httpUrl, "service=idle-compaction")).toBe(accepted);
}, 90_000);

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
