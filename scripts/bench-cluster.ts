// Cluster benchmark (not a test). In one run on this machine:
//   1. a single node (its own nats-server, WAL at R1, local segments) and a 3-node
//      local cluster (3 clustered nats-servers, WAL and segment store at R3) each take
//      the same FlatBuffers batches at full speed for --seconds: events/s from first
//      publish to last event searchable, publish-ack p50/p99/p999, peak RSS;
//   2. on the cluster, under a steady SDK load, --kills times: kill -9 one node, time
//      until the survivors own every shard, restart it, wait for the balanced layout;
//      then --nats-kills times: kill -9 one nats-server, time until the SDK's publishes
//      are acked again (events logged after the kill; includes one normal ack), restart it and wait until every WAL replica is current;
//      then every event the SDK got an ack for is looked up: lost and duplicated.
//
//   bun scripts/bench-cluster.ts [--seconds 30] [--kills 10] [--nats-kills 5] [--shards 12] [--json out.json]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import cac from "cac";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { walSubject, WAL_STREAM } from "../src/protocol/subjects.ts";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { createLogger } from "../src/sdk/index.ts";
import { FlowGate } from "../src/sdk/flow-gate.ts";
import type { ClusterStatus } from "../src/cluster/status-types.ts";
import { bucketTotal, Children, getJson, histogram, loghubMessages, percentiles, publishBatch, recordMs, RssSampler, startSluiceNode, type Percentiles, type PublishCounters } from "./bench-lib.ts";
import { describeShortfall, exportedSeqnos, lossAndDuplicates } from "./local-cluster/seqnos.ts";
import { startLocalCluster, type LocalCluster } from "./local-cluster/local-cluster.ts";

const cli = cac("bench-cluster");
cli.option("--seconds <n>", "full-speed publish per system", { default: 30 });
cli.option("--kills <n>", "kill -9 rounds on the cluster", { default: 10 });
cli.option("--nats-kills <n>", "kill -9 rounds of a nats-server on the cluster", { default: 5 });
cli.option("--shards <n>", "shards of both systems", { default: 12 });
cli.option("--batch <n>", "events per WAL message", { default: 1000 });
cli.option("--inflight <n>", "unacknowledged publishes at once", { default: 8 });
cli.option("--steady-rate <n>", "events/s of the SDK load during the kills", { default: 2000 });
cli.option("--json <file>", "also write the result as JSON");
cli.help();
const args = cli.parse().options;
if (args.help) process.exit(0);
const SECONDS = Number(args.seconds);
const KILLS = Number(args.kills);
const NATS_KILLS = Number(args.natsKills);
const SHARDS = Number(args.shards);
const BATCH = Number(args.batch);
const INFLIGHT = Number(args.inflight);
const STEADY_RATE = Number(args.steadyRate);
const TENANT = "default";
/** How often the failover clock polls the cluster view. */
const OWNERSHIP_POLL_MS = 100;
/** Longest wait for a layout or for events to become searchable. */
const SETTLE_TIMEOUT_MS = 120_000;

const children = new Children((line) => console.error(line));
const workDir = mkdtempSync(join(tmpdir(), "sluice-bench-cluster-"));
// Kept when the run fails (or SLUICE_KEEP_BENCH_DIR=1): the nodes' and nats-servers' logs say why.
let keepWorkDir = process.env.SLUICE_KEEP_BENCH_DIR === "1";
children.onCleanup(async () => {
  if (keepWorkDir) console.error(`kept ${workDir} (data and logs of every process) for inspection; remove it when done`);
  else rmSync(workDir, { recursive: true, force: true });
});

// ---- the same pre-encoded batches for both systems: Loghub messages, seed-shaped fields ----
const messages = loghubMessages();
const LEVELS = ["INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG"] as const;
const batches = Array.from({ length: 64 }, (_, b) =>
  encodeBatch(
    Array.from({ length: BATCH }, (_, i): NormalizedEvent => {
      const n = b * BATCH + i;
      return { timestampUs: Date.now() * 1000, level: LEVELS[n % LEVELS.length], service: `service-${n % 300}`, hostname: `host-${n % 2000}`, traceId: n.toString(16).padStart(32, "0"), spanId: (n % 65536).toString(16).padStart(16, "0"), message: messages[n % messages.length].slice(0, 400), metadata: `{"user_id":${n % 10000},"duration_ms":${n % 997}}` };
    }),
  ),
);

async function countAll(httpUrl: string): Promise<number> {
  const answer = await getJson(httpUrl, `/api/v1/logs/aggregate?group_by=level&from=0&counters=false`);
  if (answer.partial) return -1;
  return bucketTotal(answer.buckets);
}

/** Polls `probe` until it yields a value; a probe that throws is polled again, and the timeout names its last error. */
async function until<T>(probe: () => Promise<T | undefined>, what: string, timeoutMs = SETTLE_TIMEOUT_MS, intervalMs = 200): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError = "";
  for (;;) {
    const value = await probe().catch((error) => {
      lastError = error instanceof Error ? error.message : String(error);
      return undefined;
    });
    if (value !== undefined) return value;
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${lastError}` : ""}`);
    await Bun.sleep(intervalMs);
  }
}

interface ThroughputResult {
  events: number;
  eventsPerSecond: number;
  ackMs: Percentiles;
  peakRssMb: Record<string, number>;
}

/** Publishes at full speed for SECONDS, then waits until every acked event is searchable. */
async function throughput(natsServers: string[], httpUrl: string, rss: RssSampler): Promise<ThroughputResult> {
  const nc = await connect({ servers: natsServers, maxReconnectAttempts: -1 });
  const js = jetstream(nc, { timeout: 30_000 });
  // A well-behaved producer: it waits while a node says it is behind (sluice.flow), so the figure is what the system sustains.
  const gate = FlowGate.listen(nc, (error) => console.error(`malformed flow signal: ${error}`));
  const counters: PublishCounters = { ackedEvents: 0, refusedPublishes: 0, failedPublishes: 0 };
  const acks = histogram();
  const before = await countAll(httpUrl);
  rss.takePeaksMb();
  const startedAt = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (performance.now() - startedAt < SECONDS * 1000) {
        const index = next++;
        await publishBatch(js, gate, walSubject(TENANT, index % SHARDS), batches[index % batches.length], BATCH, counters, { onAck: (ms) => recordMs(acks, ms) });
      }
    }),
  );
  await until(async () => ((await countAll(httpUrl)) >= before + counters.ackedEvents ? true : undefined), "every acked event to be searchable");
  const seconds = (performance.now() - startedAt) / 1000;
  gate.close();
  await nc.close();
  return { events: counters.ackedEvents, eventsPerSecond: Math.round(counters.ackedEvents / seconds), ackMs: percentiles(acks), peakRssMb: rss.takePeaksMb() };
}

async function owners(httpUrl: string): Promise<{ owners: (string | null)[]; moves: number }> {
  const status = (await getJson(httpUrl, "/api/v1/cluster")) as ClusterStatus;
  return { owners: status.shards.map((shard) => shard.owner), moves: status.moves.length };
}

function balanced(layout: { owners: (string | null)[]; moves: number }, nodes: number): boolean {
  return layout.moves === 0 && layout.owners.every((owner) => owner !== null) && new Set(layout.owners).size === nodes;
}

/** kill -9 rounds of nodes, then of nats-servers, under a steady SDK load; failover and ingest stall ms per kill, then loss and duplicates. */
async function failovers(cluster: LocalCluster): Promise<{ failoverMs: number[]; natsStallMs: number[]; acked: number; lost: number; duplicated: number }> {
  const logger = createLogger({ servers: cluster.nats.map((server) => server.url), service: "bench-failover", shards: SHARDS, onError: () => undefined });
  let logged = 0;
  const perTick = Math.max(1, Math.round(STEADY_RATE / 100));
  const timer = setInterval(() => {
    for (let i = 0; i < perTick; i++) if (logger.info(`failover event ${logged}`, { seqno: logged })) logged++;
  }, 10);
  const failoverMs: number[] = [];
  for (let round = 0; round < KILLS; round++) {
    const victim = round % cluster.nodes.length;
    const witness = cluster.nodes[(victim + 1) % cluster.nodes.length];
    const victimId = cluster.nodes[victim].id;
    await cluster.killNode(victim);
    const killedAt = performance.now();
    await until(async () => {
      const layout = await owners(witness.httpUrl);
      return layout.owners.every((owner) => owner !== null && owner !== victimId) ? true : undefined;
    }, `the shards of ${victimId} to move`, SETTLE_TIMEOUT_MS, OWNERSHIP_POLL_MS);
    failoverMs.push(Math.round(performance.now() - killedAt));
    console.error(`kill ${round + 1}/${KILLS}: ${victimId} -> shards moved in ${failoverMs[failoverMs.length - 1]} ms`);
    await cluster.restartNode(victim);
    await until(async () => (balanced(await owners(witness.httpUrl), cluster.nodes.length) ? true : undefined), "the balanced layout");
  }
  const natsStallMs: number[] = [];
  if (NATS_KILLS > 0) {
    // A client of its own for the replica check: the servers in turn are killed under it.
    const nc = await connect({ servers: cluster.nats.map((server) => server.url), maxReconnectAttempts: -1 });
    const jsm = await jetstreamManager(nc, { timeout: 5_000 });
    try {
      for (let round = 0; round < NATS_KILLS; round++) {
        const victim = round % cluster.nats.length;
        // Killing a server while another still catches up would leave the WAL without a quorum: wait for every replica.
        await until(async () => {
          const info = await jsm.streams.info(WAL_STREAM);
          const replicas = info?.cluster?.replicas ?? [];
          return info?.cluster?.leader && replicas.length === cluster.nats.length - 1 && replicas.every((replica) => replica.current) ? true : undefined;
        }, "every WAL replica current");
        const loggedAtKill = logged;
        const killedAt = performance.now();
        await cluster.killNats(victim);
        await until(async () => (logger.stats().acked >= loggedAtKill + perTick * 10 ? true : undefined), `acks after killing ${cluster.nats[victim].name}`, SETTLE_TIMEOUT_MS, 20);
        natsStallMs.push(Math.round(performance.now() - killedAt));
        console.error(`nats kill ${round + 1}/${NATS_KILLS}: ${cluster.nats[victim].name} -> publishes acked again after ${natsStallMs[natsStallMs.length - 1]} ms`);
        await cluster.restartNats(victim);
      }
    } finally {
      await nc.close();
    }
  }
  clearInterval(timer);
  await logger.flush();
  const stats = logger.stats();
  await logger.close();
  if (stats.acked !== logged || stats.failedEvents > 0) console.error(`WARNING: logged ${logged}, acked ${stats.acked}, failed ${stats.failedEvents}`);
  // Every seqno must be found once: export streams every match.
  const seqnos = await until(async () => {
    const found = await exportedSeqnos(cluster.nodes[0].httpUrl, "service:bench-failover");
    if (found.length >= stats.acked) return found;
    throw new Error(describeShortfall(found, stats.acked));
  }, "every acked failover event");
  return { failoverMs, natsStallMs, acked: stats.acked, ...lossAndDuplicates(seqnos, stats.acked) };
}

const rss = new RssSampler();
children.onCleanup(async () => rss.stop());
try {
  console.error(`single node: ${SECONDS} s at full speed…`);
  const single = await startSluiceNode({ dataDir: join(workDir, "single"), shards: SHARDS, children, logPath: join(workDir, "single.log") });
  rss.watch("node", single.pid);
  rss.watch("nats", single.natsPid);
  const singleResult = await throughput([single.natsUrl], single.httpUrl, rss);
  await single.stop();

  console.error(`3-node cluster: ${SECONDS} s at full speed…`);
  const cluster = await startLocalCluster({ nodes: 3, baseDir: join(workDir, "cluster"), shards: SHARDS });
  children.onCleanup(() => cluster.stop());
  for (const node of cluster.nodes) rss.watch(node.id, node.pid);
  for (const server of cluster.nats) rss.watch(server.name, server.pid);
  await until(async () => (balanced(await owners(cluster.nodes[0].httpUrl), 3) ? true : undefined), "the first balanced layout");
  const clusterResult = await throughput(
    cluster.nats.map((server) => server.url),
    cluster.nodes[0].httpUrl,
    rss,
  );

  console.error(`failover: ${KILLS} node and ${NATS_KILLS} nats-server kill -9 rounds under ${STEADY_RATE} events/s…`);
  const failover = await failovers(cluster);
  await cluster.stop();

  const sorted = [...failover.failoverMs].sort((a, b) => a - b);
  const stalls = [...failover.natsStallMs].sort((a, b) => a - b);
  const result = {
    seconds: SECONDS,
    shards: SHARDS,
    single: singleResult,
    cluster: clusterResult,
    ratio: Math.round((clusterResult.eventsPerSecond / singleResult.eventsPerSecond) * 100) / 100,
    failover: { kills: KILLS, p50Ms: sorted[Math.floor((sorted.length - 1) / 2)], maxMs: sorted[sorted.length - 1], allMs: failover.failoverMs, natsKills: NATS_KILLS, natsStallP50Ms: stalls[Math.floor((stalls.length - 1) / 2)], natsStallMaxMs: stalls[stalls.length - 1], natsStallAllMs: failover.natsStallMs, acked: failover.acked, lost: failover.lost, duplicated: failover.duplicated },
  };
  const sum = (peaks: Record<string, number>) => Object.values(peaks).reduce((total, mb) => total + mb, 0);
  console.log(`
| system | events/s | ack p50 / p99 / p999 ms | peak RSS, all processes |
| --- | --- | --- | --- |
| single node (R1, local segments) | ${singleResult.eventsPerSecond.toLocaleString("en-US")} | ${singleResult.ackMs.p50} / ${singleResult.ackMs.p99} / ${singleResult.ackMs.p999} | ${sum(singleResult.peakRssMb)} MB |
| 3-node cluster (R3 WAL + segments) | ${clusterResult.eventsPerSecond.toLocaleString("en-US")} (${result.ratio}x) | ${clusterResult.ackMs.p50} / ${clusterResult.ackMs.p99} / ${clusterResult.ackMs.p999} | ${sum(clusterResult.peakRssMb)} MB |

failover over ${KILLS} kill -9 of a node: p50 ${result.failover.p50Ms} ms, max ${result.failover.maxMs} ms
publish stall over ${NATS_KILLS} kill -9 of a nats-server: p50 ${result.failover.natsStallP50Ms ?? "-"} ms, max ${result.failover.natsStallMaxMs ?? "-"} ms
${failover.acked.toLocaleString("en-US")} events acked, ${failover.lost} lost, ${failover.duplicated} duplicated`);
  if (args.json) await Bun.write(String(args.json), JSON.stringify(result, null, 2));
  if (failover.lost > 0 || failover.duplicated > 0) {
    keepWorkDir = true;
    process.exitCode = 1;
  }
} catch (error) {
  keepWorkDir = true;
  throw error;
} finally {
  await children.cleanup();
}
