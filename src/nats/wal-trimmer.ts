// WalTrimmer: removes acknowledged messages from the WAL. Every shard consumer's ack
// floor says all of that shard's messages up to it are in segments, so everything
// below the lowest floor of all shards can go; one purge removes whole blocks at once
// (see wal.ts for why this beats work-queue retention). If any consumer cannot be read
// (being recreated, NATS away), the round is skipped: trimming late is always safe.
//
// A quiet shard's floor stays at its own last message, far behind the others; it must
// not hold the WAL back. It counts as caught up when its floor has reached the last
// message stored on its subjects, as the stream leader says. Not from the consumer's
// num_pending: that is counted on whichever server leads the consumer, and a replica
// still catching up (after a server restart) reports 0 for messages the stream has
// stored and acked to their publishers; purging on it would lose them.

import type { JetStreamManager } from "@nats-io/jetstream";
import { tickWhenIdle, type Actor, type ActorContext } from "../actors/actor.ts";
import { describe } from "../actors/supervisor.ts";
import { shardConsumerName, walShardFilter, WAL_STREAM } from "../protocol/subjects.ts";

/** How often acked messages are purged; the WAL holds at most about this much acked data beyond the unsealed part. */
const WAL_TRIM_INTERVAL_MS = 2_000;

export type WalTrimmerMessage = { type: "tick" };

export interface WalTrimmerOptions {
  jsm: JetStreamManager;
  shards: number;
  /**
   * Each shard's WAL floor from its published manifest (index = shard; see
   * ShardManifest.walFloor), read after the consumers: nothing above it is purged even
   * when a consumer's ack floor says otherwise (nats-server 2.9 can move an ack floor
   * past messages it never delivered).
   */
  walFloors?: () => Promise<readonly number[]>;
  /** Each round's ack floor per shard (index = shard): partitions forget sealed sequences below it. */
  onAckFloors?: (floors: readonly number[]) => void;
  intervalMs?: number;
}

export interface ShardConsumerState {
  ackFloor: number;
  /** Sequence of the last message stored on the shard's subjects (0: none), read after `lastSeq` and before `ackFloor`. */
  lastOfShard: number;
  ackPending: number;
}

/**
 * The highest sequence that may be purged: every shard acked all of its messages up to
 * it. A shard whose ack floor reached its own last message is caught up to `lastSeq`
 * (the stream's last sequence, read first): any message of it at or below `lastSeq`
 * was stored before its last message was read, so is at or below that. A quiet shard
 * whose floor is old, or zero, then does not hold the WAL back. Pure.
 */
export function purgeBelow(lastSeq: number, shards: readonly ShardConsumerState[]): number {
  if (shards.length === 0) return 0;
  return Math.min(...shards.map((shard) => (shard.ackFloor >= shard.lastOfShard ? lastSeq : shard.ackFloor)));
}

export class WalTrimmer implements Actor<WalTrimmerMessage> {
  readonly name = "wal-trimmer";
  private timer?: ReturnType<typeof setInterval>;
  private trimming = false;
  private purgedThrough = 0;
  private purges = 0;
  private messagesPurged = 0;
  private lastError?: string;

  constructor(private readonly options: WalTrimmerOptions) {}

  async start(context: ActorContext<WalTrimmerMessage>): Promise<void> {
    // Not while a trim runs: two rounds back to back would ask the same floors again.
    this.timer = tickWhenIdle(context, this.options.intervalMs ?? WAL_TRIM_INTERVAL_MS, { type: "tick" }, () => this.trimming);
  }

  async handle(): Promise<void> {
    await this.trimNow();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * One trim round. At shutdown, `settleMs` waits (bounded) until the server has
   * applied the final acks, so the purge covers them.
   */
  async trimNow(settleMs = 0): Promise<void> {
    if (this.trimming) return;
    this.trimming = true;
    try {
      const deadline = Date.now() + settleMs;
      let through: number;
      for (;;) {
        // The stream first: a message published after this read shows up as pending below.
        const lastSeq = (await this.options.jsm.streams.info(WAL_STREAM)).state.last_seq;
        const shards: ShardConsumerState[] = await Promise.all(
          Array.from({ length: this.options.shards }, async (_, shard) => {
            // The WAL has direct get off: this is the stream leader's answer. Then the floor, in that order.
            const last = await this.options.jsm.streams.getMessage(WAL_STREAM, { last_by_subj: walShardFilter(shard) });
            const info = await this.options.jsm.consumers.info(WAL_STREAM, shardConsumerName(shard));
            return { ackFloor: info.ack_floor.stream_seq, lastOfShard: last?.seq ?? 0, ackPending: info.num_ack_pending };
          }),
        );
        this.options.onAckFloors?.(shards.map((shard) => shard.ackFloor));
        const walFloors = await this.options.walFloors?.();
        through = purgeBelow(lastSeq, walFloors ? shards.map((shard, index) => ({ ...shard, ackFloor: Math.min(shard.ackFloor, walFloors[index] ?? 0) })) : shards);
        if (shards.every((shard) => shard.ackPending === 0) || Date.now() >= deadline) break;
        await Bun.sleep(25);
      }
      if (through > this.purgedThrough) {
        const result = await this.options.jsm.streams.purge(WAL_STREAM, { seq: through + 1 });
        this.purgedThrough = through;
        this.purges++;
        this.messagesPurged += result.purged;
      }
      this.lastError = undefined;
    } catch (error) {
      // Skipped round: the WAL keeps acked messages a little longer, nothing else.
      this.lastError = describe(error);
    } finally {
      this.trimming = false;
    }
  }

  snapshot(): Record<string, unknown> {
    return { purgedThrough: this.purgedThrough, purges: this.purges, messagesPurged: this.messagesPurged, lastError: this.lastError };
  }
}
