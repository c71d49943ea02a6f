// A Sluice cluster on one machine: N clustered nats-servers with JetStream and N Sluice
// nodes, each node on its own data directory and its own server first. Used by
// `scripts/cluster.ts` (detached: the processes outlive the script) and by tests and
// benchmarks (attached: every process is stopped by stop(), by `await using`, and
// killed when the caller exits), with fault injection per process.
//
//   await using cluster = await startLocalCluster({ nodes: 3, baseDir });
//   await cluster.killNode(1);          // SIGKILL node-2
//   await cluster.restartNode(1);       // same flags, ports and data; resolves when ready
//
// Indexes are 0-based into `nodes` / `nats`: nodes[0] is node-1 on nats-1.

import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { natsServerVersion, NATS_STOP_TIMEOUT_MS } from "../../src/nats/server-process.ts";
import { natsServerSpec, RESTARTED_META_LEADER_TIMEOUT_MS, spawnNatsServer, waitForMetaLeader, writeNatsConfigs, type NatsServerSpec } from "./nats-cluster.ts";
import { allocatePorts, type PortBases } from "./ports.ts";
import { ClusterError, processAlive, sendSignal, signalAndWait, stopProcess, type LoggedChild } from "./processes.ts";
import { sluiceNodeSpec, spawnSluiceNode, waitForNodeReady, type SluiceNodeSpec } from "./sluice-nodes.ts";

/** More servers than this on one machine is a typo, not a test. */
export const CLUSTER_NODES_MAX = 9;
/**
 * Graceful node stop, ms: beyond main.ts's own 60 s forced exit, so a node always
 * finishes (or abandons) its final seal itself; SIGKILL is for a hung process only.
 */
export const NODE_STOP_TIMEOUT_MS = 65_000;
/** Graceful nats-server stop before SIGKILL, ms: the single-node server's bound. */
export const NATS_SERVER_STOP_TIMEOUT_MS = NATS_STOP_TIMEOUT_MS;

export interface LocalClusterOptions {
  /** Servers and nodes: N of each, 1..CLUSTER_NODES_MAX. */
  nodes: number;
  /** Holds nats-N/ (config, JetStream store), node-N/ (data) and their logs. */
  baseDir: string;
  /** --shards of every node; default the node's own. */
  shards?: number;
  /** First port of each role (server i uses base + i); 0 or unset picks free ports. */
  natsBasePort?: number;
  routeBasePort?: number;
  monitorBasePort?: number;
  httpBasePort?: number;
  /** Appended to every node's flags. */
  extraNodeFlags?: readonly string[];
  /** Variables set for every child on top of the inherited environment. */
  env?: Record<string, string>;
  log?: (line: string) => void;
  /** Children in their own sessions, not killed when we exit (for `cluster up`). */
  detached?: boolean;
  /** Aborts startup; everything started so far is stopped. */
  signal?: AbortSignal;
  bunPath?: string;
}

/** One managed process; `pid` changes on restart. */
interface ProcessHandle {
  readonly index: number;
  readonly logPath: string;
  readonly pid: number;
  /** Alive and not a zombie. */
  readonly running: boolean;
}

export interface LocalClusterNode extends ProcessHandle, Readonly<Omit<SluiceNodeSpec, "argv" | "natsUrls">> {
  readonly natsUrls: readonly string[];
}

export interface LocalClusterNats extends ProcessHandle, Readonly<Omit<NatsServerSpec, "ports">> {}

export interface LocalCluster extends AsyncDisposable {
  readonly baseDir: string;
  readonly nodes: readonly LocalClusterNode[];
  readonly nats: readonly LocalClusterNats[];
  /** Sends `signal` (default SIGKILL) to a node and waits for its exit. */
  killNode(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** SIGTERM, wait for the graceful exit (SIGKILL after NODE_STOP_TIMEOUT_MS). */
  stopNode(index: number): Promise<void>;
  /** Stops it if running, starts it with the same flags and data, resolves once ready. */
  restartNode(index: number): Promise<void>;
  /** SIGSTOP: the process freezes with its connections open (a hung node). */
  pauseNode(index: number): void;
  /** SIGCONT. */
  resumeNode(index: number): void;
  /** Sends `signal` (default SIGKILL) to a nats-server and waits for its exit. */
  killNats(index: number, signal?: NodeJS.Signals): Promise<void>;
  stopNats(index: number): Promise<void>;
  /** Stops it if running, starts it on the same ports and store, resolves once it sees the meta leader again. */
  restartNats(index: number): Promise<void>;
  /** Stops every node, then every nats-server; never leaves a process behind. Idempotent. */
  stop(): Promise<void>;
}

interface Slot<Spec> {
  spec: Spec;
  child: LoggedChild | null;
}

function validate(options: LocalClusterOptions): void {
  if (!Number.isSafeInteger(options.nodes) || options.nodes < 1 || options.nodes > CLUSTER_NODES_MAX) {
    throw new ClusterError("bad_options", `nodes: ${options.nodes} is outside 1..${CLUSTER_NODES_MAX}`);
  }
  if (options.shards !== undefined && (!Number.isSafeInteger(options.shards) || options.shards < 1)) throw new ClusterError("bad_options", `shards: ${options.shards} is not a positive integer`);
}

function abortCheck(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ClusterError("aborted", "cluster startup aborted");
}

/** A live view of a slot: the same object all along, its pid following restarts. */
function handleOf(slot: Slot<unknown>, fields: object): ProcessHandle {
  return Object.defineProperties(
    { ...fields },
    {
      pid: { enumerable: true, get: () => slot.child?.pid ?? 0 },
      running: { enumerable: true, get: () => slot.child !== null && processAlive(slot.child.pid) },
    },
  ) as ProcessHandle;
}

function nodeFields({ argv, ...fields }: SluiceNodeSpec, index: number) {
  return { index, ...fields, natsUrls: Object.freeze([...fields.natsUrls]) };
}

function natsFields({ ports, ...fields }: NatsServerSpec, index: number) {
  return { index, ...fields };
}

/**
 * Runs the node stops together, then the nats-server stops (nodes first, while NATS is
 * up: their shutdown seals and acks through it); the reasons of those that failed.
 */
export async function stopNodesThenServers(nodeStops: readonly (() => Promise<unknown>)[], serverStops: readonly (() => Promise<unknown>)[]): Promise<unknown[]> {
  const failures: unknown[] = [];
  for (const stops of [nodeStops, serverStops]) {
    for (const result of await Promise.allSettled(stops.map((stop) => stop()))) if (result.status === "rejected") failures.push(result.reason);
  }
  return failures;
}

/** The processes and their fault-injection handles; startLocalCluster() builds and boots it. */
class ClusterRuntime implements LocalCluster {
  readonly nodes: readonly LocalClusterNode[];
  readonly nats: readonly LocalClusterNats[];
  private stopping: Promise<void> | undefined;
  // Attached children die with us even when the caller forgets stop(): a last, synchronous kill.
  private readonly killAllOnExit = () => {
    for (const slot of [...this.nodeSlots, ...this.natsSlots]) if (slot.child) sendSignal(slot.child.pid, "SIGKILL");
  };

  constructor(
    readonly baseDir: string,
    private readonly natsSlots: Slot<NatsServerSpec>[],
    private readonly nodeSlots: Slot<SluiceNodeSpec>[],
    private readonly settings: { detached: boolean; env?: Record<string, string | undefined>; log: (line: string) => void },
  ) {
    this.nodes = Object.freeze(nodeSlots.map((slot, index) => handleOf(slot, nodeFields(slot.spec, index)) as LocalClusterNode));
    this.nats = Object.freeze(natsSlots.map((slot, index) => handleOf(slot, natsFields(slot.spec, index)) as LocalClusterNats));
    if (!settings.detached) process.on("exit", this.killAllOnExit);
  }

  /** Servers, their meta leader, node-1, then the other nodes; on any failure everything started is stopped. */
  async boot(abort?: AbortSignal): Promise<void> {
    try {
      for (let index = 0; index < this.natsSlots.length; index++) this.startNats(index);
      const specs = this.natsSlots.map((slot) => slot.spec);
      const leader = await waitForMetaLeader(specs, this.natsSlots.map((slot) => slot.child!.pid), specs.length, abort);
      this.settings.log(`JetStream meta leader: ${leader}`);
      abortCheck(abort);
      // node-1 alone first: it creates the WAL stream, which concurrent first starts would race to create.
      await this.startNode(0, abort);
      await Promise.all(this.nodeSlots.slice(1).map((_, offset) => this.startNode(offset + 1, abort)));
    } catch (error) {
      this.settings.log("startup failed; stopping everything started so far");
      await this.stop();
      throw error;
    }
  }

  private startNats(index: number): void {
    const slot = this.natsAt(index);
    slot.child = spawnNatsServer(slot.spec, this.settings.detached, this.settings.env);
    this.settings.log(`${slot.spec.name}: pid ${slot.child.pid}, client ${slot.spec.url}, monitor ${slot.spec.monitorUrl}, log ${slot.spec.logPath}`);
  }

  private async startNode(index: number, abort?: AbortSignal): Promise<void> {
    const slot = this.nodeAt(index);
    slot.child = spawnSluiceNode(slot.spec, this.settings.detached, this.settings.env);
    this.settings.log(`${slot.spec.id}: pid ${slot.child.pid}, waiting for ${slot.spec.httpUrl} to be ready (log ${slot.spec.logPath})`);
    await waitForNodeReady(slot.spec, slot.child.pid, abort);
    this.settings.log(`${slot.spec.id}: ready at ${slot.spec.httpUrl}`);
  }

  private nodeAt(index: number): Slot<SluiceNodeSpec> {
    const slot = this.nodeSlots[index];
    if (!slot) throw new ClusterError("bad_options", `no node at index ${index} (0..${this.nodeSlots.length - 1})`);
    return slot;
  }

  private natsAt(index: number): Slot<NatsServerSpec> {
    const slot = this.natsSlots[index];
    if (!slot) throw new ClusterError("bad_options", `no nats-server at index ${index} (0..${this.natsSlots.length - 1})`);
    return slot;
  }

  private runningPid(slot: Slot<unknown>, what: string): number {
    if (!slot.child || !processAlive(slot.child.pid)) throw new ClusterError("bad_options", `${what} is not running`);
    return slot.child.pid;
  }

  private async stopSlot(slot: Slot<unknown>, timeoutMs: number): Promise<void> {
    if (!slot.child) return;
    await stopProcess(slot.child.pid, timeoutMs, slot.child.exited);
    slot.child = null;
  }

  private async killSlot(slot: Slot<unknown>, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    if (!slot.child) return;
    await signalAndWait(slot.child.pid, signal, timeoutMs, slot.child.exited);
    slot.child = null;
  }

  killNode(index: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.killSlot(this.nodeAt(index), signal, NODE_STOP_TIMEOUT_MS);
  }

  stopNode(index: number): Promise<void> {
    return this.stopSlot(this.nodeAt(index), NODE_STOP_TIMEOUT_MS);
  }

  async restartNode(index: number): Promise<void> {
    await this.stopSlot(this.nodeAt(index), NODE_STOP_TIMEOUT_MS);
    await this.startNode(index);
  }

  pauseNode(index: number): void {
    sendSignal(this.runningPid(this.nodeAt(index), `node-${index + 1}`), "SIGSTOP");
  }

  resumeNode(index: number): void {
    sendSignal(this.runningPid(this.nodeAt(index), `node-${index + 1}`), "SIGCONT");
  }

  killNats(index: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.killSlot(this.natsAt(index), signal, NATS_SERVER_STOP_TIMEOUT_MS);
  }

  stopNats(index: number): Promise<void> {
    return this.stopSlot(this.natsAt(index), NATS_SERVER_STOP_TIMEOUT_MS);
  }

  async restartNats(index: number): Promise<void> {
    const slot = this.natsAt(index);
    await this.stopSlot(slot, NATS_SERVER_STOP_TIMEOUT_MS);
    this.startNats(index);
    const leader = await waitForMetaLeader([slot.spec], [slot.child!.pid], this.natsSlots.length, undefined, RESTARTED_META_LEADER_TIMEOUT_MS);
    this.settings.log(`${slot.spec.name}: back, sees meta leader ${leader}`);
  }

  stop(): Promise<void> {
    return (this.stopping ??= this.stopAll());
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  private async stopAll(): Promise<void> {
    const failures = await stopNodesThenServers(
      this.nodeSlots.map((slot) => () => this.stopSlot(slot, NODE_STOP_TIMEOUT_MS)),
      this.natsSlots.map((slot) => () => this.stopSlot(slot, NATS_SERVER_STOP_TIMEOUT_MS)),
    );
    if (failures.length > 0) {
      // The exit hook stays: a process may have survived.
      this.stopping = undefined;
      throw new AggregateError(failures, "some cluster processes could not be stopped");
    }
    if (!this.settings.detached) process.off("exit", this.killAllOnExit);
  }
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  validate(options);
  const baseDir = resolve(options.baseDir);
  const version = natsServerVersion();
  const bases: PortBases = { nats: options.natsBasePort ?? 0, route: options.routeBasePort ?? 0, monitor: options.monitorBasePort ?? 0, http: options.httpBasePort ?? 0 };
  const ports = await allocatePorts(options.nodes, bases);
  mkdirSync(baseDir, { recursive: true });
  const servers = ports.map((serverPorts, index) => natsServerSpec(baseDir, index, serverPorts));
  writeNatsConfigs(servers, version);
  const nodeFlags = { shards: options.shards, extraNodeFlags: options.extraNodeFlags, bunPath: options.bunPath };
  const cluster = new ClusterRuntime(
    baseDir,
    servers.map((spec) => ({ spec, child: null })),
    ports.map((nodePorts, index) => ({ spec: sluiceNodeSpec(baseDir, index, nodePorts, servers, nodeFlags), child: null })),
    { detached: options.detached ?? false, env: options.env ? { ...process.env, ...options.env } : undefined, log: options.log ?? (() => undefined) },
  );
  await cluster.boot(options.signal);
  return cluster;
}
