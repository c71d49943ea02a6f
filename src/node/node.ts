// NodeSupervisor: the root of a node. Starts (in order) NATS, the WAL stream, DuckDB,
// one PartitionActor per shard, the gateways and the HTTP server; shuts down in
// reverse on SIGTERM: stop intake, drain, seal, ack, exit, with no orphan process.

import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { PartitionActor } from "../actors/partition-actor.ts";
import { describe, Supervisor } from "../actors/supervisor.ts";
import { createFetchHandler } from "../http/routes.ts";
import { errorResponse, HttpError } from "../http/errors.ts";
import { IngestGateway } from "../ingest/ingest-gateway.ts";
import { INGEST_BODY_BYTES_MAX } from "../ingest/limits.ts";
import { parseNatsVersion, pidAlive, startNatsServer, versionAtLeast, type RunningNatsServer } from "../nats/server-process.ts";
import { ensureWalStream } from "../nats/wal.ts";
import { JETSTREAM_ELECTION_WAIT_MS, untilJetStreamAnswers } from "../nats/jetstream-wait.ts";
import { WalTrimmer } from "../nats/wal-trimmer.ts";
import { FlowController } from "../actors/flow-controller.ts";
import { WAL_STREAM } from "../protocol/subjects.ts";
import { QueryGateway } from "../query/query-gateway.ts";
import { Exporter } from "../query/export.ts";
import { TailHub } from "../query/tail.ts";
import { Duck } from "../storage/duckdb.ts";
import { STORAGE_WORK_CONCURRENCY } from "../storage/limits.ts";
import { StorageWorkScheduler } from "../storage/work-scheduler.ts";
import { dataPaths, manifestPath, type DataPaths } from "../storage/paths.ts";
import { readManifest } from "../storage/manifest.ts";
import { NODE_ID_PATTERN, natsServers, type NodeOptions } from "./config.ts";
import { openClusterBuckets } from "../cluster/buckets.ts";
import { createClusterApi } from "../cluster/cluster-status.ts";
import { publishedWalFloor, ReplicatedManifestStore } from "../cluster/replicated-manifest.ts";
import { PartitionSet } from "./partitions.ts";
import { ShardCoordinator } from "../cluster/shard-coordinator.ts";

/** Oldest nats-server release whose JetStream durability fixes production needs. */
export const NATS_VERSION_RECOMMENDED = [2, 10, 23] as const;
/** How long shutdown waits for the server to apply the final acks before the last purge. */
const WAL_FINAL_TRIM_SETTLE_MS = 2_000;
/** Seconds of history behind the ingestion rate in health. */
const RATE_WINDOW_SECONDS = 10;

export interface RunningNode {
  /** This node's name in the cluster. */
  nodeId: string;
  httpUrl: string;
  natsUrl: string;
  dataDir: string;
  warnings: string[];
  /** Ordered shutdown; idempotent. */
  stop(): Promise<void>;
  health(): Promise<Record<string, unknown>>;
}

export class NodeStartError extends Error {
  readonly code = "node_start_failed";
}

/** One node per data directory: a lock file with the owner's pid. */
function acquireLock(paths: DataPaths): () => void {
  const lockPath = join(paths.root, "LOCK");
  try {
    const owner = Number(readFileSync(lockPath, "utf8").trim());
    // A lock whose owner is gone is stale.
    if (owner && owner !== process.pid && pidAlive(owner)) throw new NodeStartError(`data directory ${paths.root} is in use by process ${owner} (${lockPath})`);
  } catch (error) {
    if (error instanceof NodeStartError) throw error;
    // No lock file yet.
  }
  const fd = openSync(lockPath, "w");
  writeSync(fd, String(process.pid));
  closeSync(fd);
  return () => rmSync(lockPath, { force: true });
}

/**
 * The node id saved in the data directory (NODE_ID), made up on first start: a
 * restarted node keeps its name, so it reclaims its own leases at once.
 */
function persistedNodeId(paths: DataPaths): string {
  const path = join(paths.root, "NODE_ID");
  try {
    const saved = readFileSync(path, "utf8").trim();
    if (NODE_ID_PATTERN.test(saved)) return saved;
  } catch {
    // First start.
  }
  const host = hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 40) || "node";
  const id = `${host}-${randomBytes(3).toString("hex")}`;
  writeFileSync(path, `${id}\n`);
  return id;
}

export function durabilityWarnings(version: string, spawned: boolean): string[] {
  const parsed = parseNatsVersion(version);
  const warnings: string[] = [];
  const [major, minor, patch] = NATS_VERSION_RECOMMENDED;
  if (!versionAtLeast(parsed, major, minor, patch)) {
    warnings.push(`nats-server ${parsed.text} is older than ${major}.${minor}.${patch}: production needs ${major}.${minor}.${patch} or newer for JetStream durability fixes.`);
  }
  if (spawned && !versionAtLeast(parsed, 2, 10, 0)) {
    warnings.push(`nats-server ${parsed.text} does not fsync every write (sync_interval: always needs 2.10+): an acknowledged event can be lost if the machine (not just the process) crashes.`);
  } else if (!spawned) {
    warnings.push("cannot verify that the external NATS server fsyncs every write: production needs `sync_interval: always` in its jetstream block.");
  }
  return warnings;
}

export async function startNode(options: NodeOptions, log: (line: string) => void = (line) => console.error(line)): Promise<RunningNode> {
  const paths = dataPaths(options.dataDir);
  mkdirSync(paths.root, { recursive: true });
  const releaseLock = acquireLock(paths);
  const cleanups: (() => Promise<void> | void)[] = [releaseLock];
  const unwind = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        log(`shutdown step failed: ${describe(error)}`);
      }
    }
  };
  try {
    let natsServer: RunningNatsServer | undefined;
    let natsUrl = options.natsUrl;
    if (!natsUrl) {
      natsServer = await startNatsServer({ directory: paths.nats, port: options.natsPort, log });
      cleanups.push(() => natsServer!.stop());
      natsUrl = natsServer.url;
    }
    /** A connection to the node's NATS servers, drained at shutdown, its losses and returns logged (and told to `onUp`). */
    const connectNats = async (name: string, whileLost: string, onUp: (up: boolean) => void = () => {}) => {
      const connection = await connect({ servers: natsServers(natsUrl), name, maxReconnectAttempts: -1, reconnectTimeWait: 250, pingInterval: 10_000 });
      cleanups.push(async () => {
        if (!connection.isClosed()) await connection.drain();
      });
      void (async () => {
        for await (const status of connection.status()) {
          if (status.type === "disconnect") {
            onUp(false);
            log(`NATS connection ${name} lost; ${whileLost} until it is back`);
          } else if (status.type === "reconnect") {
            onUp(true);
            log(`NATS connection ${name} restored`);
          }
        }
      })().catch((error) => log(`NATS status watcher of ${name} ended: ${describe(error)}`));
      return connection;
    };
    let natsConnected = true;
    const nc = await connectNats("sluice-node", "ingest answers 503", (up) => (natsConnected = up));
    // Queries (the gateway's scatter and every shard's answer) on a connection of their
    // own: see PartitionActorOptions.queryNc.
    const queryNc = await connectNats("sluice-node-query", "queries answer 503 or partial");
    const serverVersion = nc.info?.version ?? "0.0.0";
    const maxPayloadBytes = nc.info?.max_payload ?? 1024 * 1024;
    const warnings = durabilityWarnings(serverVersion, natsServer !== undefined);
    for (const warning of warnings) log(`WARNING: ${warning}`);
    // One budget for every JetStream step of startup, so a cluster that never elects fails the start in bounded time.
    const jetStreamDeadline = performance.now() + JETSTREAM_ELECTION_WAIT_MS;
    const whenJetStreamAnswers = <T>(what: string, attempt: () => Promise<T>) => untilJetStreamAnswers(what, attempt, log, jetStreamDeadline - performance.now());
    const jsm = await whenJetStreamAnswers("JetStream account", () => jetstreamManager(nc));
    const js = jetstream(nc);
    await whenJetStreamAnswers("WAL stream", () => ensureWalStream(jsm, { shards: options.shards, maxBytes: options.walMaxBytes, replicas: options.walReplicas, maxMessageBytes: maxPayloadBytes }));
    const duck = await Duck.open({ dataDir: paths.root, memoryLimit: options.duckdbMemoryLimit, threads: options.duckdbThreads });
    cleanups.push(() => duck.close());

    const supervisor = new Supervisor({
      name: "node",
      log,
      onEscalate: (name, cause) => {
        log(`FATAL: ${name} keeps failing (${describe(cause)}); shutting the node down`);
        process.kill(process.pid, "SIGTERM");
      },
    });
    const storageWork = new StorageWorkScheduler(STORAGE_WORK_CONCURRENCY);
    const nodeId = options.nodeId ?? persistedNodeId(paths);
    const replicatedSegments = options.segmentStore === "objectstore";
    const buckets = await whenJetStreamAnswers("cluster buckets", () => openClusterBuckets(js, { replicas: options.walReplicas, replicatedSegments }));
    // Partitions come and go with shard leases: started and stopped by the coordinator.
    const partitions = new PartitionSet((shard, epoch, trusted) => {
      const manifestStore = replicatedSegments ? new ReplicatedManifestStore({ shard, paths, manifests: buckets.manifests!, segments: buckets.segments!, jsm, node: nodeId, epoch, log }) : undefined;
      return new PartitionActor({ shard, nc, queryNc, js, jsm, duck, paths, log, sealRowsMax: options.sealRowsMax, sealAgeMs: options.sealAgeMs, sealBytesMax: options.sealBytesMax, flushIntervalMs: options.flushIntervalMs, compactionIdleAfterMs: options.compactionIdleMs, storageWork, manifestStore, trusted });
    }, log);
    cleanups.push(() => partitions.supervisor.stopAll("quit", { concurrently: true }));
    const flow = new FlowController({
      nc,
      nodeId: `${hostname()}:${process.pid}`,
      lagMs: (nowMs) => partitions.lagMs(nowMs),
      pauseAtMs: options.ingestLagMaxMs,
      log,
    });
    await supervisor.spawn(flow, { capacity: 1, policy: "drop-oldest" });
    // The trimmer reads every shard consumer's ack floor anyway: partitions prune their replay guard from it.
    // Purges stop at each shard's manifest WAL floor too: a consumer's ack floor alone is not trusted (see ShardManifest.walFloor).
    const shardList = Array.from({ length: options.shards }, (_, shard) => shard);
    const walFloors = replicatedSegments
      ? () => Promise.all(shardList.map((shard) => publishedWalFloor(buckets.manifests!, shard)))
      : async () => shardList.map((shard) => readManifest(manifestPath(paths, shard), shard).walFloor ?? 0);
    const trimmer = new WalTrimmer({ jsm, shards: options.shards, walFloors, onAckFloors: (floors) => partitions.forgetDurableThrough(floors) });
    await supervisor.spawn(trimmer, { capacity: 1, policy: "drop-oldest" });
    // HTTP comes up after the coordinator's first plan, so its URL is announced in the membership record up front.
    const server = Bun.serve({
      hostname: options.httpHost,
      port: options.httpPort,
      // Bun refuses larger bodies itself; the gateway enforces the exact limit with a clear error.
      maxRequestBodySize: INGEST_BODY_BYTES_MAX + 1024 * 1024,
      idleTimeout: 120,
      fetch: (request) => handler(request),
    });
    // Stopped here too if the coordinator never starts; the later cleanup stops it first on a normal shutdown.
    cleanups.push(() => server.stop(true));
    let handler: (request: Request) => Promise<Response> = async () => errorResponse(new HttpError(503, "starting", "the node is starting", 1));
    const httpUrl = `http://${options.httpHost === "0.0.0.0" ? "127.0.0.1" : options.httpHost}:${server.port}`;
    const coordinator = new ShardCoordinator({
      nodeId,
      instance: `${process.pid}-${Date.now().toString(36)}`,
      shards: options.shards,
      buckets,
      member: { http_url: httpUrl, nats_url: natsUrl, pid: process.pid, started_at: new Date().toISOString(), segment_store: options.segmentStore },
      handoff: replicatedSegments,
      startPartition: (shard, epoch, trusted) => partitions.start(shard, epoch, trusted),
      log,
    });
    await supervisor.spawn(coordinator, { capacity: 1, policy: "drop-oldest" });
    cleanups.push(async () => {
      // Stops the coordinator last (it was started last): it seals, acks and releases every shard.
      await supervisor.stopAll("quit", { concurrently: true });
      // The final acks are out: purge what they cover, so a restart finds an empty WAL.
      await nc.flush();
      await trimmer.trimNow(WAL_FINAL_TRIM_SETTLE_MS);
    });
    // Cleanups run last first: intake stops before the shards are sealed and released.
    cleanups.push(() => server.stop(true));
    const cluster = createClusterApi({ coordinator, jsm, manifests: buckets.manifests, shards: options.shards, nodeId, segmentsReplicated: replicatedSegments });

    const connected = () => natsConnected && !nc.isClosed();
    const ingest = new IngestGateway({ js, connected, admission: () => flow.admission(), shards: options.shards, maxPayloadBytes, log });
    const query = new QueryGateway({ nc: queryNc, shards: options.shards });
    const exporter = new Exporter(query);
    const tail = new TailHub({ nc, js, jsm, log });
    const rate = startRateSampler(() => partitions.eventsTotal());
    cleanups.push(() => rate.stop());
    const health = () => nodeHealth({ supervisors: [supervisor, partitions.supervisor], ingest, query, exporter, tail, jsm, connected, paths, rate: rate.perSecond(), warnings, serverVersion, storageWork, flow });
    handler = createFetchHandler({
      ingest,
      query,
      exporter,
      tail,
      apiKeys: options.apiKeys,
      health,
      cluster,
      ready: () => {
        const reasons: string[] = [];
        if (!connected()) reasons.push("NATS connection down");
        for (const child of [...supervisor.notRunning(), ...partitions.supervisor.notRunning()]) reasons.push(`${child.name} is ${child.state}`);
        return { ready: reasons.length === 0, reasons };
      },
      log,
    });
    // Tails end with `event: closed` before the server stops and NATS drains.
    cleanups.push(() => tail.close());

    let stopping: Promise<void> | undefined;
    return {
      nodeId,
      httpUrl,
      natsUrl,
      dataDir: paths.root,
      warnings,
      health,
      stop: () => (stopping ??= unwind()),
    };
  } catch (error) {
    await unwind();
    throw error;
  }
}

interface RateSampler {
  perSecond(): number;
  stop(): void;
}

/** `total`: events stored so far, monotonic (shards handed away keep counting). */
function startRateSampler(total: () => number): RateSampler {
  const samples: number[] = [];
  samples.push(total());
  const timer = setInterval(() => {
    samples.push(total());
    if (samples.length > RATE_WINDOW_SECONDS + 1) samples.shift();
  }, 1000);
  return {
    perSecond: () => (samples.length < 2 ? 0 : (samples[samples.length - 1] - samples[0]) / (samples.length - 1)),
    stop: () => clearInterval(timer),
  };
}

async function nodeHealth(input: {
  supervisors: Supervisor[];
  ingest: IngestGateway;
  query: QueryGateway;
  exporter: Exporter;
  tail: TailHub;
  jsm: JetStreamManager;
  connected: () => boolean;
  paths: DataPaths;
  rate: number;
  warnings: string[];
  serverVersion: string;
  storageWork: StorageWorkScheduler;
  flow: FlowController;
}): Promise<Record<string, unknown>> {
  const actors = input.supervisors.flatMap((supervisor) => supervisor.snapshot());
  // The supervisor's snapshot already holds each partition's (with its store): do not build them twice.
  const stores = actors.map((actor) => actor.store as Record<string, number> | undefined).filter((store) => store !== undefined);
  const sum = (key: string) => stores.reduce((total, store) => total + (store[key] ?? 0), 0);
  let wal: Record<string, unknown> = { available: false };
  try {
    const info = await input.jsm.streams.info(WAL_STREAM);
    wal = { available: true, messages: info.state.messages, bytes: info.state.bytes, max_bytes: info.config.max_bytes, consumers: info.state.consumer_count };
  } catch (error) {
    wal = { available: false, error: describe(error) };
  }
  let disk: Record<string, number> = {};
  try {
    const stats = statfsSync(input.paths.root);
    disk = { total_bytes: stats.blocks * stats.bsize, free_bytes: stats.bavail * stats.bsize };
  } catch {
    // statfs is not available on every platform; health omits disk then.
  }
  const notRunning = actors.filter((child) => child.state !== "running");
  const querySnapshot = input.query.snapshot() as { latencyMs: { p50: number; p99: number; count: number } };
  return {
    status: !input.connected() || notRunning.length > 0 || wal.available === false ? "degraded" : "healthy",
    ingestion_rate: Math.round(input.rate * 10) / 10,
    storage_utilization: {
      segments: sum("segments"),
      segment_rows: sum("segmentRows"),
      segment_bytes: sum("segmentBytes"),
      memtable_rows: sum("memtableRows") + sum("pendingRows"),
      work_ms: { flush: sum("flushMs"), seal: sum("sealMs"), compact: sum("compactMs") },
      work_counts: { flushes: sum("flushes"), part_joins: sum("partJoins"), seals: sum("seals"), compactions: sum("compactions") },
      // Segments read whole by every query until their index is built, and indexes of fewer bits a key than this version writes, rebuilt in the background.
      skip_indexes: { bytes: sum("skipIndexBytes"), segments_unindexed: sum("segmentsUnindexed"), under_sized: sum("skipIndexesUnderSized") },
      // Rows whose ordering and stream columns are in memory, which decide a search on service, level and time without DuckDB.
      recent_rows: sum("recentRows"),
      work_queue: input.storageWork.stats(),
      wal,
      disk,
    },
    query_latency: { p50_ms: querySnapshot.latencyMs.p50, p99_ms: querySnapshot.latencyMs.p99, count: querySnapshot.latencyMs.count },
    // No alerting supervisor runs yet, so nothing can be queued for it.
    alerting_queue_size: 0,
    nats: { version: input.serverVersion, connected: input.connected() },
    ingest: input.ingest.snapshot(),
    flow: input.flow.snapshot(),
    query: querySnapshot,
    export: input.exporter.snapshot(),
    tail: input.tail.snapshot(),
    actors,
    warnings: input.warnings,
  };
}
