// Two nodes on one NATS server, segments replicated through JetStream's object store:
// shards split between them, move on drain and on kill -9, and every acked event is
// found exactly once from either node afterwards.

import { afterAll, describe, expect, test } from "bun:test";
import { clusterStatus, lossAndDuplicates, waitForSeqnos, postEvents, seqnoEvents, waitForOwners } from "./helpers/cluster.ts";
import { join } from "node:path";
import { cleanupTestResources, getJson, ROOT, startTestNats, startTestNode, type TestNats, type TestNode } from "./helpers/processes.ts";

const SHARDS = 8;
const CLUSTER_ARGS = ["--segment-store", "objectstore", "--seal-age-ms", "300", "--flush-interval-ms", "100"];
/** The bound on moving a dead node's shards. */
const FAILOVER_MAX_MS = 10_000;

afterAll(cleanupTestResources);

/** Runs the real bin/logctl against a node. */
async function logctl(httpUrl: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = Bun.spawn([join(ROOT, "bin/logctl"), "--url", httpUrl, ...args], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

async function expectExactly(httpUrl: string, expected: number): Promise<void> {
  const seqnos = await waitForSeqnos(httpUrl, expected, 20_000);
  expect(lossAndDuplicates(seqnos, expected)).toEqual({ lost: 0, duplicated: 0 });
}

describe("two nodes, replicated segments", () => {
  let nats: TestNats | undefined;
  const nodes: TestNode[] = [];
  afterAll(async () => {
    for (const node of nodes) await node.kill9().catch(() => undefined);
    await nats?.stop();
  });

  test("shards split, drain moves them, kill -9 moves them, nothing lost or doubled", async () => {
    nats = await startTestNats();
    const first = await startTestNode({ natsUrl: nats.url, shards: SHARDS, extraArgs: [...CLUSTER_ARGS, "--node-id", "n1"] });
    nodes.push(first);
    await waitForOwners(first.httpUrl, { n1: SHARDS });
    await postEvents(first.httpUrl, seqnoEvents(0, 2_000));
    const second = await startTestNode({ natsUrl: nats.url, shards: SHARDS, extraArgs: [...CLUSTER_ARGS, "--node-id", "n2"] });
    nodes.push(second);
    const split = await waitForOwners(second.httpUrl, { n1: SHARDS / 2, n2: SHARDS / 2 });
    expect(split.nodes.map((node: any) => node.id)).toEqual(["n1", "n2"]);
    expect(split.nodes.every((node: any) => node.alive && node.segment_store === "objectstore")).toBe(true);
    // Every shard that moved went up an epoch.
    expect(split.shards.filter((shard: any) => shard.owner === "n2").every((shard: any) => shard.epoch >= 2)).toBe(true);
    await postEvents(second.httpUrl, seqnoEvents(2_000, 2_000));
    await expectExactly(first.httpUrl, 4_000);
    await expectExactly(second.httpUrl, 4_000);

    const status = await logctl(first.httpUrl, "cluster", "status");
    expect(status.code).toBe(0);
    expect(status.stdout).toContain("n2");
    const shards = await logctl(second.httpUrl, "shards", "--json");
    expect(shards.code).toBe(0);
    expect(JSON.parse(shards.stdout).map((shard: any) => shard.owner).sort()).toEqual([...Array(SHARDS / 2).fill("n1"), ...Array(SHARDS / 2).fill("n2")]);

    // Drain n2 with logctl: its shards come back to n1 with their segments.
    const drain = await logctl(first.httpUrl, "drain", "n2", "--wait", "--timeout", "60");
    expect(drain.code).toBe(0);
    expect(drain.stdout).toContain("n2 is drained");
    await waitForOwners(first.httpUrl, { n1: SHARDS });
    expect((await clusterStatus(first.httpUrl)).nodes.find((node: any) => node.id === "n2").draining).toBe(true);
    await expectExactly(second.httpUrl, 4_000);
    const undrain = await getJson(`${first.httpUrl}/api/v1/cluster/undrain`, { method: "POST", body: JSON.stringify({ node: "n2" }) });
    expect(undrain.status).toBe(200);
    await waitForOwners(first.httpUrl, { n1: SHARDS / 2, n2: SHARDS / 2 });
    const unknown = await getJson(`${first.httpUrl}/api/v1/cluster/drain`, { method: "POST", body: JSON.stringify({ node: "nope" }) });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe("unknown_node");
    const bad = await getJson(`${first.httpUrl}/api/v1/cluster/drain`, { method: "POST", body: "{" });
    expect(bad.status).toBe(400);

    // kill -9 n1 while its shards hold unsealed rows: n2 takes everything over.
    await postEvents(first.httpUrl, seqnoEvents(4_000, 2_000));
    await first.kill9();
    const killedAt = performance.now();
    await waitForOwners(second.httpUrl, { n2: SHARDS }, 30_000);
    expect(performance.now() - killedAt).toBeLessThan(FAILOVER_MAX_MS);
    await expectExactly(second.httpUrl, 6_000);
    const after = await clusterStatus(second.httpUrl);
    expect(after.nodes.find((node: any) => node.id === "n1").alive).toBe(false);
    // A node down: logctl cluster status says so and exits 1, for scripts that poll it.
    const degraded = await logctl(second.httpUrl, "cluster", "status");
    expect(degraded.code).toBe(1);
    expect(degraded.stderr).toContain("n1 is down");
  }, 120_000);
});
