// A node cut off from the others by SIGSTOP: its leases lapse, the peer takes its
// shards, and when it resumes it stops owning them; nothing it sealed after losing its
// lease becomes visible, and every acked event is found exactly once.

import { afterAll, describe, expect, test } from "bun:test";
import { clusterStatus, lossAndDuplicates, waitForSeqnos, postEvents, seqnoEvents, waitForOwners } from "./helpers/cluster.ts";
import { cleanupTestResources, getJson, startTestNats, startTestNode, type TestNats, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const SHARDS = 8;
const CLUSTER_ARGS = ["--segment-store", "objectstore", "--seal-age-ms", "2000", "--flush-interval-ms", "100"];

afterAll(cleanupTestResources);

describe("a paused node", () => {
  let nats: TestNats | undefined;
  const nodes: TestNode[] = [];
  afterAll(async () => {
    for (const node of nodes) {
      try {
        process.kill(node.pid, "SIGCONT");
      } catch {
        // Already gone.
      }
      await node.kill9().catch(() => undefined);
    }
    await nats?.stop();
  });

  test("loses its shards while stopped and publishes nothing after it resumes", async () => {
    nats = await startTestNats();
    const paused = await startTestNode({ natsUrl: nats.url, shards: SHARDS, extraArgs: [...CLUSTER_ARGS, "--node-id", "p1"] });
    nodes.push(paused);
    const peer = await startTestNode({ natsUrl: nats.url, shards: SHARDS, extraArgs: [...CLUSTER_ARGS, "--node-id", "p2"] });
    nodes.push(peer);
    await waitForOwners(peer.httpUrl, { p1: SHARDS / 2, p2: SHARDS / 2 });
    // The paused node's shards hold these rows in memtables (seal age 2 s) when it stops.
    await postEvents(peer.httpUrl, seqnoEvents(0, 2_000));
    process.kill(paused.pid, "SIGSTOP");
    const before = await clusterStatus(peer.httpUrl);
    const epochs = before.shards.map((shard: any) => shard.epoch);
    // While its lease stands, the paused node's shards cannot answer: the search says so, never a silently short result.
    const during = await getJson(`${peer.httpUrl}/api/v1/logs/search?q=event&timeout_ms=1000`);
    expect(during.status).toBe(200);
    expect(during.body.partial).toBe(true);
    const pausedShards = before.shards.filter((shard: any) => shard.owner === "p1").map((shard: any) => shard.shard);
    expect(during.body.missing_shards.map((missing: any) => missing.shard).sort((a: number, b: number) => a - b)).toEqual(pausedShards);
    await waitForOwners(peer.httpUrl, { p2: SHARDS }, 15_000);
    await postEvents(peer.httpUrl, seqnoEvents(2_000, 1_000));
    process.kill(paused.pid, "SIGCONT");
    // On resuming it notices at once that its leases are gone, before it could publish.
    await waitFor(() => /lost shard/.test(paused.output()) || undefined, { what: "the resumed node to drop its shards", timeoutMs: 10_000 });
    expect(paused.output()).not.toMatch(/FATAL/);
    // Then it rejoins as a fresh holder: the shards it gets back carry higher epochs.
    const rejoined = await waitForOwners(peer.httpUrl, { p1: SHARDS / 2, p2: SHARDS / 2 }, 30_000);
    // Every shard the paused node held changed hands at least once since.
    before.shards.forEach((shard: any) => {
      if (shard.owner === "p1") expect(rejoined.shards[shard.shard].epoch).toBeGreaterThan(epochs[shard.shard]);
    });
    for (const node of [paused, peer]) {
      const seqnos = await waitForSeqnos(node.httpUrl, 3_000, 20_000);
      expect(lossAndDuplicates(seqnos, 3_000)).toEqual({ lost: 0, duplicated: 0 });
    }
  }, 120_000);
});
