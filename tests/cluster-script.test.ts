// Goal: `scripts/cluster` runs a local 3-node cluster in the background as a user would:
// `up` starts three clustered nats-servers and three nodes and exits 0 while they run
// on; a second `up` on the same directory is refused; `status --json` sees every
// process alive and every node ready; a node accepts an ingested event; `down` stops
// every process. (Whether three nodes share the shards is the cluster logic's own
// tests' business, not this file's.)
// Method: the real script as a subprocess on free ports (base 0) in a temporary
// directory; pids come from its state file and are checked in /proc (a stopped child of
// ours may linger as a zombie, which is not running). afterAll kills whatever the state
// file still lists, so a failure leaves nothing behind.

import { afterAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { processAlive, sendSignal } from "../scripts/local-cluster/processes.ts";
import { natsAlive, nodeAlive, readState, statePath } from "../scripts/local-cluster/state-file.ts";
import { getJson, ROOT, tempDir } from "./helpers/processes.ts";

const CLUSTER = join(ROOT, "scripts/cluster");
/** `up` waits for a meta leader and three ready nodes; a few seconds here, bounded well below the test's budget. */
const COMMAND_TIMEOUT_MS = 45_000;
const NODES = 3;
const dir = tempDir("cluster-script").path;

async function cluster(...args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([CLUSTER, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: COMMAND_TIMEOUT_MS });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

afterAll(() => {
  // Only processes this test started: those of its state file that still run what they ran.
  const state = readState(dir);
  if (!state) return;
  for (const node of state.nodes) if (nodeAlive(node)) sendSignal(node.pid, "SIGKILL");
  for (const server of state.nats) if (natsAlive(server)) sendSignal(server.pid, "SIGKILL");
});

test("up, status, ingest and down of a 3-node cluster leave no process behind", async () => {
  const up = await cluster("up", "--nodes", String(NODES), "--dir", dir, "--shards", "4", "--nats-port", "0", "--route-port", "0", "--monitor-port", "0", "--http-port", "0");
  expect({ exitCode: up.exitCode, stderr: up.exitCode === 0 ? "" : up.stderr }).toEqual({ exitCode: 0, stderr: "" });
  const state = readState(dir)!;
  const pids = [...state.nodes.map((node) => node.pid), ...state.nats.map((server) => server.pid)];
  for (const node of state.nodes) expect(up.stdout).toContain(node.http_url);
  for (const server of state.nats) expect(up.stdout).toContain(server.url);

  const again = await cluster("up", "--nodes", String(NODES), "--dir", dir, "--nats-port", "0", "--route-port", "0", "--monitor-port", "0", "--http-port", "0");
  expect(again.exitCode).toBe(1);
  expect(again.stderr).toContain("is still running");

  const status = await cluster("status", "--dir", dir, "--json");
  expect(status.exitCode).toBe(0);
  const report = JSON.parse(status.stdout);
  expect(report.nodes.map(({ id, alive, ready }: { id: string; alive: boolean; ready: boolean }) => ({ id, alive, ready }))).toEqual(
    Array.from({ length: NODES }, (_, index) => ({ id: `node-${index + 1}`, alive: true, ready: true })),
  );
  expect(report.nats.map(({ name, alive }: { name: string; alive: boolean }) => ({ name, alive }))).toEqual(Array.from({ length: NODES }, (_, index) => ({ name: `nats-${index + 1}`, alive: true })));
  // Each node names its own server first.
  expect(report.nodes.map((node: { nats_url: string }) => node.nats_url)).toEqual(report.nats.map((server: { url: string }) => server.url));

  const event = { timestamp: new Date().toISOString(), level: "info", service: "cluster-script", message: "hello from the cluster test" };
  const ingest = await getJson(`${report.nodes[0].http_url}/api/v1/logs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(event) });
  expect(ingest.status).toBeGreaterThanOrEqual(200);
  expect(ingest.status).toBeLessThan(300);
  expect(ingest.body.accepted).toBe(1);

  const down = await cluster("down", "--dir", dir);
  expect({ exitCode: down.exitCode, stderr: down.exitCode === 0 ? "" : down.stderr }).toEqual({ exitCode: 0, stderr: "" });
  expect(existsSync(statePath(dir))).toBe(false);
  expect(pids.filter(processAlive)).toEqual([]);
  // Data and logs stay without --purge.
  expect(existsSync(join(dir, "node-1.log"))).toBe(true);
}, 60_000);
