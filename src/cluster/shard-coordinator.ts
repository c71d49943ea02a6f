// ShardCoordinator: holds this node's shard leases in JetStream KV and starts and stops
// its partitions as nodes join, leave, drain and die (DESIGN.md's actors).
//
// Every tick it reads the membership and lease keys (from the streams' leaders), plans
// a balanced assignment (assignment.ts) and acts on its own part only: it takes the
// shards planned for it once they are free or their holder's lease has lapsed, and
// hands away the ones planned elsewhere (seal, ack, release), a few at a time. Lease
// renewal runs on its own timer, so a slow partition start never lets leases lapse.
// See leases.ts for why no clock is trusted across machines.

import type { Actor, ActorContext } from "../actors/actor.ts";
import { describe } from "../actors/supervisor.ts";
import { planAssignment, planMoves } from "./assignment.ts";
import type { ClusterBuckets } from "./buckets.ts";
import {
  encodeLeaseValue,
  LEASE_RENEW_INTERVAL_MS,
  LEASE_SELF_TRUST_MS,
  LEASE_TTL_MS,
  leaseKey,
  leaseState,
  NODE_HEARTBEAT_INTERVAL_MS,
  parseLeaseValue,
  RevisionClock,
  type LeaseValue,
} from "./leases.ts";
import type { ShardMove } from "./status-types.ts";
import { casWrite, isCasConflict } from "./kv-cas.ts";

/** How often the coordinator reads the cluster and acts on the plan. */
export const COORDINATOR_TICK_MS = 500;
/** Shards one node hands away at once: each move seals and acks, and ingest must keep flowing meanwhile. */
export const HANDOFFS_CONCURRENT_MAX = 2;
/** Shards one node takes at once (each may fetch segments). */
export const ACQUISITIONS_CONCURRENT_MAX = 4;
/** After a failed start, a shard is not taken again by this node for this long. */
export const ACQUIRE_RETRY_MS = 2_000;
/** How long start() keeps taking the shards planned for this node before it returns anyway. */
export const STARTUP_ACQUIRE_MAX_MS = 15_000;
/** While ticks keep failing (NATS down), one log line per this long. */
export const TICK_FAILURE_LOG_INTERVAL_MS = 30_000;
/** A member key whose heartbeat has not changed for this long (and that holds no lease) is removed: the node is gone for good. */
export const DEAD_MEMBER_FORGET_MS = 10 * 60_000;

export interface MemberInfo {
  http_url: string;
  nats_url: string;
  pid: number;
  started_at: string;
  segment_store: "local" | "objectstore";
}

export interface MemberRecord extends MemberInfo {
  id: string;
  instance: string;
  beat: number;
}

/** A running partition, as the coordinator sees it. */
export interface PartitionHandle {
  /** "quit": seal, ack, publish (a handoff); "killed": stop at once, publish nothing (the lease is lost). */
  stop(reason: "quit" | "killed"): Promise<void>;
}

export interface ShardCoordinatorOptions {
  nodeId: string;
  /** Unique per process start. */
  instance: string;
  shards: number;
  buckets: Pick<ClusterBuckets, "leases" | "nodes" | "nodeKeys">;
  member: MemberInfo;
  /** Hand shards to other nodes (a cluster); false keeps every shard here (local segments cannot move). */
  handoff: boolean;
  startPartition(shard: number, epoch: number, trusted: () => boolean): Promise<PartitionHandle>;
  log: (line: string) => void;
  now?: () => number;
}

interface Held {
  epoch: number;
  revision: number;
  /** Until when this node may act on the lease without a newer renewal. */
  trustedUntil: number;
  /** Set once started; a held shard not in a transition is running. */
  partition?: PartitionHandle;
}

/** Work under way on a shard; at most one per shard. */
interface Transition {
  kind: "acquire" | "handoff" | "lose";
  done: Promise<void>;
}

export interface ClusterView {
  members: Map<string, { record: MemberRecord; alive: boolean; draining: boolean; lastSeenMs: number }>;
  leases: (LeaseValue | null)[];
  /** KV revision of each lease key as read (0: never written): what an acquire's CAS replaces. */
  revisions: number[];
  owners: (string | null)[];
  targets: (string | null)[];
}

export type CoordinatorMessage = { type: "tick" };

export class ShardCoordinator implements Actor<CoordinatorMessage> {
  readonly name = "shard-coordinator";
  private readonly held = new Map<number, Held>();
  private readonly clock = new RevisionClock();
  private readonly retryAfter = new Map<number, number>();
  private readonly transitions = new Map<number, Transition>();
  private ticker?: ReturnType<typeof setInterval>;
  private renewer?: ReturnType<typeof setInterval>;
  /** The renewal round in flight: a release waits for it, so the two never race on the revision. */
  private renewal?: Promise<void>;
  private lastBeatAt = -Infinity;
  /**
   * A tick failed since the last good read: JetStream did not answer (a leader election,
   * NATS down), so holders may not have been able to renew either. The next good read
   * restarts every standing time rather than count the outage against them.
   */
  private readsInterrupted = false;
  private lastTickFailureLogAt = -Infinity;
  private beat = 0;
  private stopped = false;
  private view: ClusterView = { members: new Map(), leases: [], revisions: [], owners: [], targets: [] };
  private counters = { acquired: 0, handedOff: 0, lost: 0, startFailures: 0, tickFailures: 0 };
  private readonly now: () => number;

  constructor(private readonly options: ShardCoordinatorOptions) {
    this.now = options.now ?? (() => performance.now());
  }

  async start(context: ActorContext<CoordinatorMessage>): Promise<void> {
    this.stopped = false;
    this.renewer = setInterval(() => void this.renewAll(), LEASE_RENEW_INTERVAL_MS / 2);
    // Every shard planned for this node and free to take is running before start returns,
    // so a node reports ready with its shards (a peer's held leases are waited for later).
    const deadline = this.now() + STARTUP_ACQUIRE_MAX_MS;
    for (;;) {
      const read = await this.tick();
      const remaining = deadline - this.now();
      if (remaining <= 0) break;
      if (!read) {
        // JetStream is not answering yet (a server restarting, a leader election): try again.
        await new Promise((resolve) => setTimeout(resolve, Math.min(COORDINATOR_TICK_MS, remaining)));
        continue;
      }
      if (this.transitions.size === 0) break;
      // Bounded: a shard slow to start (segments to fetch, a server catching up) keeps starting after ready.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.settled(), new Promise<void>((resolve) => (timer = setTimeout(resolve, remaining)))]);
      clearTimeout(timer);
    }
    this.ticker = setInterval(() => context.mailbox.size === 0 && context.self({ type: "tick" }), COORDINATOR_TICK_MS);
  }

  async handle(): Promise<void> {
    await this.tick();
  }

  /** Shards this node holds now. */
  heldShards(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  /** The view of the last tick (members, leases, plan). */
  lastView(): ClusterView {
    return this.view;
  }

  pendingMoves(): ShardMove[] {
    return planMoves(this.view.owners, this.view.targets);
  }

  /** Marks a node draining (or not); its shards move away on the next ticks. */
  async setDraining(node: string, draining: boolean): Promise<void> {
    if (draining) await this.options.buckets.nodes.put(drainKey(node), new TextEncoder().encode(JSON.stringify({ since: new Date().toISOString() })));
    else await this.options.buckets.nodes.delete(drainKey(node));
  }

  snapshot(): Record<string, unknown> {
    const nowMs = this.now();
    const untrusted = [...this.held].filter(([, held]) => !this.trustedAt(held, nowMs)).map(([shard]) => shard);
    return { node: this.options.nodeId, held: this.heldShards(), untrusted, moving: [...this.transitions.keys()], ...this.counters };
  }

  async stop(): Promise<void> {
    // No new plan from here; leases keep being renewed until every final seal is published.
    this.stopped = true;
    if (this.ticker) clearInterval(this.ticker);
    await this.settled();
    // Seal, ack and release every shard, so peers take them at once instead of after a lease lapses.
    for (const shard of this.held.keys()) this.transition(shard, "handoff", this.handOff(shard));
    await this.settled();
    if (this.renewer) clearInterval(this.renewer);
    await this.renewal;
    await this.options.buckets.nodes.delete(memberKey(this.options.nodeId)).catch(() => undefined);
  }

  /** One round: heartbeat, read, act. False when the cluster could not be read. */
  private async tick(): Promise<boolean> {
    if (this.stopped) return false;
    try {
      await this.heartbeat();
      this.view = await this.readView();
      this.readsInterrupted = false;
      this.act();
      this.lastTickFailureLogAt = -Infinity;
      return true;
    } catch (error) {
      this.counters.tickFailures++;
      this.readsInterrupted = true;
      const nowMs = this.now();
      if (nowMs - this.lastTickFailureLogAt >= TICK_FAILURE_LOG_INTERVAL_MS) {
        this.lastTickFailureLogAt = nowMs;
        this.options.log(`coordinator: cannot read the cluster (${this.counters.tickFailures} failed ticks so far): ${describe(error)}`);
      }
      return false;
    }
  }

  private async heartbeat(): Promise<void> {
    const nowMs = this.now();
    if (nowMs - this.lastBeatAt < NODE_HEARTBEAT_INTERVAL_MS) return;
    const record: MemberRecord = { id: this.options.nodeId, instance: this.options.instance, ...this.options.member, beat: ++this.beat };
    await this.options.buckets.nodes.put(memberKey(this.options.nodeId), new TextEncoder().encode(JSON.stringify(record)));
    this.lastBeatAt = nowMs;
  }

  private async readView(): Promise<ClusterView> {
    const { leases, nodes } = this.options.buckets;
    const nowMs = this.now();
    if (this.readsInterrupted) this.clock.restartAll(nowMs);
    const members: ClusterView["members"] = new Map();
    const drains = new Set<string>();
    const entries = await Promise.all((await this.options.buckets.nodeKeys()).map((key) => nodes.get(key)));
    for (const entry of entries) {
      if (!entry || entry.operation !== "PUT") continue;
      const key = entry.key;
      if (key.startsWith("drain.")) drains.add(key.slice("drain.".length));
      else if (key.startsWith("node.")) {
        this.clock.observe(key, entry.revision, nowMs);
        const record = entry.json<MemberRecord>();
        const lastSeenMs = record.id === this.options.nodeId ? 0 : this.clock.standingMs(key, nowMs);
        members.set(record.id, { record, alive: lastSeenMs < LEASE_TTL_MS, draining: false, lastSeenMs });
      }
    }
    for (const [id, member] of members) member.draining = drains.has(id);
    await this.forgetDeparted(members);
    const values = await Promise.all(
      Array.from({ length: this.options.shards }, async (_, shard) => {
        const entry = await leases.get(leaseKey(shard));
        if (!entry || entry.operation !== "PUT") return { value: null, revision: entry?.revision ?? 0 };
        this.clock.observe(leaseKey(shard), entry.revision, nowMs);
        return { value: parseLeaseValue(entry.value), revision: entry.revision };
      }),
    );
    const self = { node: this.options.nodeId, instance: this.options.instance };
    const owners = values.map(({ value }, shard) => {
      const state = leaseState(value, this.clock.standingMs(leaseKey(shard), nowMs), self);
      return state === "held" || state === "mine" || state === "stale-self" ? value!.node : null;
    });
    const eligible = [...members.values()].filter((member) => member.alive && !member.draining && member.record.segment_store === this.options.member.segment_store).map((member) => member.record.id);
    // A node whose segments are local keeps what it holds: they cannot move.
    if (!this.options.handoff && !eligible.includes(this.options.nodeId)) eligible.push(this.options.nodeId);
    const targets = this.options.handoff ? planAssignment({ shards: this.options.shards, eligible, owners }) : owners.map((owner) => owner ?? this.options.nodeId);
    return { members, leases: values.map((value) => value.value), revisions: values.map((value) => value.revision), owners, targets };
  }

  private async forgetDeparted(members: ClusterView["members"]): Promise<void> {
    for (const [id, member] of members) {
      if (member.lastSeenMs < DEAD_MEMBER_FORGET_MS || this.view.owners.includes(id)) continue;
      members.delete(id);
      this.clock.forget(memberKey(id));
      await this.options.buckets.nodes.delete(memberKey(id)).catch(() => undefined);
      await this.options.buckets.nodes.delete(drainKey(id)).catch(() => undefined);
      this.options.log(`coordinator: forgot node ${id} (no heartbeat for ${Math.round(member.lastSeenMs / 60_000)} min)`);
    }
  }

  private act(): void {
    const me = this.options.nodeId;
    const nowMs = this.now();
    const self = { node: me, instance: this.options.instance };
    const running = [...this.transitions.values()];
    let handoffs = running.filter((transition) => transition.kind === "handoff").length;
    let acquisitions = running.filter((transition) => transition.kind === "acquire").length;
    for (let shard = 0; shard < this.options.shards; shard++) {
      if (this.transitions.has(shard)) continue;
      const value = this.view.leases[shard];
      const state = leaseState(value, this.clock.standingMs(leaseKey(shard), nowMs), self);
      const held = this.held.get(shard);
      // A view read before our own acquire landed says nothing about the lease now.
      if (held && state !== "mine" && (this.view.revisions[shard] ?? 0) >= held.revision) {
        // Someone else wrote the lease: we lost it (the renewal will have said so too).
        this.transition(shard, "lose", this.lose(shard, `lease now held by ${value?.node ?? "nobody"}`));
        continue;
      }
      const target = this.view.targets[shard];
      // A node with local segments never takes a lapsed lease: that shard's segments are on its holder's disk.
      const takeable = state === "free" || state === "stale-self" || state === "mine" || (state === "lapsed" && this.options.handoff);
      if (!held && target === me && takeable && acquisitions < ACQUISITIONS_CONCURRENT_MAX && nowMs >= (this.retryAfter.get(shard) ?? 0)) {
        acquisitions++;
        this.transition(shard, "acquire", this.acquire(shard, value, this.view.revisions[shard] ?? 0));
      } else if (held && this.options.handoff && target !== null && target !== me && handoffs < HANDOFFS_CONCURRENT_MAX) {
        handoffs++;
        this.transition(shard, "handoff", this.handOff(shard));
      }
    }
  }

  private transition(shard: number, kind: Transition["kind"], work: Promise<void>): void {
    const done = work
      .catch((error) => this.options.log(`coordinator: shard ${shard}: ${describe(error)}`))
      .finally(() => this.transitions.delete(shard));
    this.transitions.set(shard, { kind, done });
  }

  /** Resolves once every transition under way has ended. */
  private async settled(): Promise<void> {
    await Promise.allSettled([...this.transitions.values()].map((transition) => transition.done));
  }

  private async acquire(shard: number, previous: LeaseValue | null, revision: number): Promise<void> {
    const epoch = (previous?.epoch ?? 0) + 1;
    const value = encodeLeaseValue({ node: this.options.nodeId, instance: this.options.instance, epoch });
    const sentAt = this.now();
    let newRevision: number;
    try {
      newRevision = revision === 0 ? await this.options.buckets.leases.create(leaseKey(shard), value) : await this.options.buckets.leases.update(leaseKey(shard), value, revision);
    } catch {
      // Another node was faster (or the lease changed since the tick read it): the next tick sees who.
      return;
    }
    const held: Held = { epoch, revision: newRevision, trustedUntil: sentAt + LEASE_SELF_TRUST_MS };
    this.held.set(shard, held);
    const from = previous?.node && previous.node !== this.options.nodeId ? ` from ${previous.node}` : "";
    this.options.log(`coordinator: took shard ${shard}${from} (epoch ${epoch})`);
    try {
      held.partition = await this.options.startPartition(shard, epoch, () => this.trusted(shard, epoch));
    } catch (error) {
      this.counters.startFailures++;
      this.retryAfter.set(shard, this.now() + ACQUIRE_RETRY_MS);
      this.held.delete(shard);
      await this.release(shard, held).catch(() => undefined);
      throw new Error(`start failed, lease released`, { cause: error });
    }
    // A lease lost meanwhile is noticed by the next tick (renewals never act on a shard in a transition).
    this.counters.acquired++;
  }

  /** Seals, acks and publishes the shard, then releases its lease for the planned node. */
  private async handOff(shard: number): Promise<void> {
    const held = this.held.get(shard);
    if (!held) return;
    await held.partition?.stop("quit");
    this.held.delete(shard);
    await this.release(shard, held);
    this.counters.handedOff++;
    this.options.log(`coordinator: released shard ${shard} (epoch ${held.epoch})`);
  }

  private async release(shard: number, held: Held): Promise<void> {
    // A renewal round that still saw this lease may be writing it: its new revision is the one to replace.
    await this.renewal;
    await this.options.buckets.leases.update(leaseKey(shard), encodeLeaseValue({ node: null, instance: "", epoch: held.epoch }), held.revision);
  }

  /** The lease is gone or no longer trusted: stop at once, publishing nothing. */
  private async lose(shard: number, why: string): Promise<void> {
    const held = this.held.get(shard);
    if (!held) return;
    this.held.delete(shard);
    this.counters.lost++;
    this.options.log(`coordinator: lost shard ${shard} (epoch ${held.epoch}): ${why}`);
    await held.partition?.stop("killed");
  }

  private trusted(shard: number, epoch: number): boolean {
    const held = this.held.get(shard);
    return held !== undefined && held.epoch === epoch && this.trustedAt(held, this.now());
  }

  /** A node with local segments has no one to yield to: its leases are always trusted. */
  private trustedAt(held: Held, nowMs: number): boolean {
    return !this.options.handoff || nowMs < held.trustedUntil;
  }

  private renewAll(): Promise<void> {
    this.renewal ??= this.renewHeld().finally(() => (this.renewal = undefined));
    return this.renewal;
  }

  private async renewHeld(): Promise<void> {
    const nowMs = this.now();
    await Promise.all(
      [...this.held.entries()].map(async ([shard, held]) => {
        if (held.trustedUntil - nowMs > LEASE_SELF_TRUST_MS - LEASE_RENEW_INTERVAL_MS) return;
        // Past trustedUntil the partition is idle (trusted() is false: queries refused,
        // deliveries handed back) but kept: a renewal that still finds our revision proves
        // nobody took the lease meanwhile, and the shard serves on without a restart.
        const sentAt = this.now();
        try {
          const written = await casWrite(this.options.buckets.leases, leaseKey(shard), encodeLeaseValue({ node: this.options.nodeId, instance: this.options.instance, epoch: held.epoch }), held.revision);
          held.revision = written.revision;
          // An earlier renewal that timed out landed (same start, same epoch, same bytes): it was sent before sentAt, so it earns no trust from it.
          if (written.earlierTry) return;
          if (!this.trustedAt(held, sentAt)) this.options.log(`coordinator: shard ${shard} renewed after ${Math.round(sentAt - held.trustedUntil + LEASE_SELF_TRUST_MS)} ms without a renewal; serving again (epoch ${held.epoch})`);
          held.trustedUntil = sentAt + LEASE_SELF_TRUST_MS;
        } catch (error) {
          if (isCasConflict(error) && !this.transitions.has(shard)) this.transition(shard, "lose", this.lose(shard, "lease taken over"));
        }
      }),
    );
  }
}

export function memberKey(node: string): string {
  return `node.${node}`;
}

export function drainKey(node: string): string {
  return `drain.${node}`;
}

