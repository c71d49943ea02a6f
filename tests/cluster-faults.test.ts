// Faults on a real 3-node cluster (3 clustered nats-servers, WAL and segment store at
// R3, 3 nodes), one after another under steady ingest through the producer SDK:
// kill -9 of a node, kill -9 of a nats-server, a rolling restart of every node, and a
// drain. Afterwards every event the SDK got an ack for is found exactly once.

import { afterAll, describe, expect, test } from "bun:test";
import { cpSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { SluiceLogger } from "../src/sdk/index.ts";
import type { PublishFunction } from "../src/sdk/shipper.ts";
import { decodeBatch } from "../src/protocol/wal-batch.ts";
import { decompressWalPayload } from "../src/protocol/wal-compression.ts";
import { startLocalCluster, type LocalCluster } from "../scripts/local-cluster/local-cluster.ts";
import { clusterStatus, lossAndDuplicates, waitForSeqnos, ownedCounts, waitForOwners } from "./helpers/cluster.ts";
import { cleanupTestResources, getJson, tempDir } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const SHARDS = 6;
const NODE_FLAGS = ["--seal-age-ms", "500", "--flush-interval-ms", "100"];
/** Events logged per load tick (every 10 ms): about 1,000 events/s. */
const EVENTS_PER_TICK = 10;
/** The bound on moving a dead node's shards. */
const FAILOVER_MAX_MS = 10_000;
/** Lines of a process's log a failure prints. */
const FAILURE_LOG_LINES = 40;

function linesOf(path: string, pattern: RegExp): string {
  try {
    return readFileSync(path, "utf8").split("\n").filter((line) => pattern.test(line)).slice(-FAILURE_LOG_LINES).join("\n");
  } catch {
    return "(no log)";
  }
}

afterAll(cleanupTestResources);

/**
 * Every publish the SDK made, by message id: subject, payload and each try's answer.
 * When an event goes missing, it says which WAL message (stream sequence, shard) held it.
 */
class PublishLedger {
  private readonly batches = new Map<string, { subject: string; payload: Uint8Array; encoding: string; tries: string[] }>();
  wrap = (publish: PublishFunction): PublishFunction => async (subject, payload, options) => {
    const entry = this.batches.get(options.msgID) ?? { subject, payload, encoding: options.headers?.get("Content-Encoding") ?? "", tries: [] };
    this.batches.set(options.msgID, entry);
    const at = new Date().toISOString();
    try {
      const ack = (await publish(subject, payload, options)) as { duplicate: boolean; seq?: number };
      entry.tries.push(`${at} seq ${ack.seq}${ack.duplicate ? " (duplicate)" : ""}`);
      return ack;
    } catch (error) {
      entry.tries.push(`${at} ${(error as Error).message}`);
      throw error;
    }
  };
  /** The publishes that carried `seqno`. */
  describe(seqno: number): string[] {
    const wanted = `steady event ${seqno}`;
    const found: string[] = [];
    for (const [id, entry] of this.batches) {
      const bytes = decompressWalPayload(entry.payload, entry.encoding);
      if (!bytes.ok) continue;
      const decoded = decodeBatch(bytes.bytes);
      if (decoded.ok && decoded.events.some((event) => event.message === wanted)) found.push(`${id} on ${entry.subject}: ${entry.tries.join("; ")}`);
    }
    return found;
  }
}

class SteadyLoad {
  private timer?: ReturnType<typeof setInterval>;
  logged = 0;
  refused = 0;
  constructor(private readonly logger: SluiceLogger) {}
  start(): void {
    this.timer = setInterval(() => {
      for (let i = 0; i < EVENTS_PER_TICK; i++) {
        if (this.logger.info(`steady event ${this.logged}`, { seqno: this.logged })) this.logged++;
        else this.refused++;
      }
    }, 10);
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

describe("a 3-node cluster under faults", () => {
  let cluster: LocalCluster | undefined;
  let logger: SluiceLogger | undefined;
  const ledger = new PublishLedger();
  afterAll(async () => {
    await logger?.close().catch(() => undefined);
    await cluster?.stop();
  });

  test("kill -9 a node, kill -9 a nats-server, rolling restart and drain: every acked event exactly once", async () => {
    try {
      await faults();
    } catch (error) {
      // The nodes' own account of what happened, for a failure in CI.
      for (const node of cluster?.nodes ?? []) console.error(`---- ${node.id} (${node.logPath}) ----\n${linesOf(node.logPath, /coordinator|FATAL|fail|lost|took|released|JetStream|starting/i)}`);
      for (const server of cluster?.nats ?? []) console.error(`---- ${server.name} (${server.logPath}) ----\n${linesOf(server.logPath, /\[(WRN|ERR|FTL)\]|leader|Starting nats-server|Route connection/)}`);
      throw error;
    } finally {
      // SLUICE_KEEP_CLUSTER_LOGS=dir keeps every node's whole log (the test directory is removed).
      const keep = process.env.SLUICE_KEEP_CLUSTER_LOGS;
      if (keep) for (const { logPath } of [...(cluster?.nodes ?? []), ...(cluster?.nats ?? [])]) cpSync(logPath, join(keep, basename(logPath)));
    }
  }, 360_000);

  async function faults(): Promise<void> {
    cluster = await startLocalCluster({ nodes: 3, baseDir: tempDir("cluster-faults").path, shards: SHARDS, extraNodeFlags: NODE_FLAGS });
    const ids = cluster.nodes.map((node) => node.id);
    const url = (index: number) => cluster!.nodes[index].httpUrl;
    const even = Object.fromEntries(ids.map((id) => [id, SHARDS / 3]));
    await waitForOwners(url(0), even, 30_000);
    const status = await clusterStatus(url(0));
    expect(status.replication.wal.replicas).toBe(3);
    expect(status.replication.segments.replicas).toBe(3);

    logger = new SluiceLogger({ servers: cluster.nats.map((server) => server.url), service: "faults", shards: SHARDS, onError: () => undefined }, { wrapPublish: ledger.wrap });
    const load = new SteadyLoad(logger);
    load.start();
    const progressed = async (what: string) => {
      const target = logger!.stats().acked + 500;
      await waitFor(() => logger!.stats().acked >= target || undefined, { what: `acks to go on after ${what}`, timeoutMs: 30_000 });
    };
    await progressed("start");

    // 1. kill -9 node-3: the other two own every shard within 10 s.
    const killedAt = performance.now();
    console.error(`${new Date().toISOString()} kill -9 ${ids[2]}`);
    await cluster.killNode(2);
    await waitForOwners(url(0), { [ids[0]]: SHARDS / 2, [ids[1]]: SHARDS / 2 }, 20_000);
    const failoverMs = performance.now() - killedAt;
    console.error(`${new Date().toISOString()} failover after kill -9 of ${ids[2]}: ${Math.round(failoverMs)} ms`);
    expect(failoverMs).toBeLessThan(FAILOVER_MAX_MS);
    await progressed("a node kill");
    await cluster.restartNode(2);
    await waitForOwners(url(0), even, 30_000);

    // 2. kill -9 nats-2: ingest goes on through the other two servers.
    await cluster.killNats(1);
    await progressed("a nats-server kill");
    await cluster.restartNats(1);
    await waitForOwners(url(0), even, 30_000);

    // 3. Rolling restart of every node.
    for (let index = 0; index < 3; index++) {
      await cluster.stopNode(index);
      await cluster.restartNode(index);
      await waitForOwners(url((index + 1) % 3), even, 30_000);
      await progressed(`restarting node-${index + 1}`);
    }

    // 4. Drain node-1 under load, then take it back.
    const drain = await getJson(`${url(1)}/api/v1/cluster/drain`, { method: "POST", body: JSON.stringify({ node: ids[0] }) });
    expect(drain.status).toBe(200);
    await waitForOwners(url(1), { [ids[1]]: SHARDS / 2, [ids[2]]: SHARDS / 2 }, 30_000);
    await progressed("a drain");
    await getJson(`${url(1)}/api/v1/cluster/undrain`, { method: "POST", body: JSON.stringify({ node: ids[0] }) });
    await waitForOwners(url(1), even, 30_000);

    load.stop();
    await logger.flush();
    const stats = logger.stats();
    expect({ refused: load.refused, dropped: stats.dropped, failed: stats.failedEvents }).toEqual({ refused: 0, dropped: 0, failed: 0 });
    expect(stats.acked).toBe(load.logged);
    for (const index of [0, 2]) {
      const seqnos = await waitForSeqnos(url(index), load.logged, 30_000).catch((error: Error) => {
        const first = /missing \d+ \(first: (\d+)/.exec(error.message)?.[1];
        if (first !== undefined) console.error(`the publish of seqno ${first}: ${ledger.describe(Number(first)).join(" | ") || "none found"}`);
        throw error;
      });
      expect(lossAndDuplicates(seqnos, load.logged)).toEqual({ lost: 0, duplicated: 0 });
    }
    expect(ownedCounts(await clusterStatus(url(2)))).toEqual(even);
  }
});
