// PartitionActor: owns one shard. Consumes the shard's WAL subject with a durable
// pull consumer, turns messages into rows, flushes them into a queryable memtable,
// seals segments, acks the WAL only once a segment holding the rows is durable and
// published, and answers the shard's queries over NATS request/reply.

import type { ConsumerMessages, JetStreamClient, JetStreamManager, JsMsg, StoredMsg } from "@nats-io/jetstream";
import { AckPolicy, DeliverPolicy } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { decodeTextPayload, openWalPayload } from "../ingest/wal-payload.ts";
import { INGEST_EVENTS_PER_REQUEST_MAX } from "../ingest/limits.ts";
import { parseWalSubject, rejectsSubject, shardConsumerName, walShardFilter, WAL_STREAM } from "../protocol/subjects.ts";
import type { Duck } from "../storage/duckdb.ts";
import { COMPACTION_IDLE_AFTER_MS, CONSUME_MESSAGES_MAX, CONSUMER_ACK_WAIT_MS, CONSUMER_MAX_ACK_PENDING, FLUSH_ROWS_TRIGGER, UNSEALED_ROWS_SEAL_MULTIPLE, PENDING_ACKS_MAX, PENDING_BYTES_MAX, PENDING_ROWS_MAX } from "../storage/limits.ts";
import type { DataPaths } from "../storage/paths.ts";
import { EVENTS_PER_MESSAGE_MAX, storedTimestampUs } from "../storage/schema.ts";
import { visitBatch } from "../protocol/wal-batch.ts";
import { ShardStore } from "../storage/shard-store.ts";
import type { StorageWorkScheduler } from "../storage/work-scheduler.ts";
import type { ManifestStore } from "../storage/manifest-store.ts";
import { ShardQueryServer } from "../query/shard-query-server.ts";
import type { Actor, ActorContext, ExitReason } from "./actor.ts";
import { describe } from "./supervisor.ts";
import { FencedError } from "../cluster/replicated-manifest.ts";
import { untilJetStreamAnswers } from "../nats/jetstream-wait.ts";

export type PartitionMessage =
  /** `incarnation`: the start that consumed it; a delivery left in the mailbox by an earlier one is dropped (the new consumer delivers it again). */
  | { type: "wal"; message: JsMsg; incarnation: number }
  | { type: "tick" };

export interface SealPolicy {
  sealRowsMax: number;
  sealAgeMs: number;
  sealBytesMax: number;
  flushIntervalMs: number;
}

export interface PartitionActorOptions extends SealPolicy {
  shard: number;
  nc: NatsConnection;
  /**
   * The connection its shard's queries arrive and are answered on (default: nc). Kept
   * apart from the WAL consumer's: on one connection a query and its reply waited in
   * the server's outbound buffer behind the megabytes of WAL messages ahead of them,
   * which drain only as fast as the node ingests.
   */
  queryNc?: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  duck: Duck;
  paths: DataPaths;
  log: (line: string) => void;
  /** How often the actor checks its flush and seal thresholds. */
  tickMs?: number;
  /** Nothing sealed for this long: merge small segments even below the usual count (COMPACTION_IDLE_AFTER_MS; tests lower it). */
  compactionIdleAfterMs?: number;
  /** The node-wide queue for storage work. */
  storageWork?: StorageWorkScheduler;
  /** Where the shard's manifest is published (replicated in a cluster); a local file when absent. */
  manifestStore?: ManifestStore;
  /** Whether this node may still act for the shard (its lease is trusted); queries are refused once it is not. */
  trusted?: () => boolean;
}

const ACK = new TextEncoder().encode("+ACK");

// A text message is parsed with the HTTP body rules, which refuse it whole past
// INGEST_EVENTS_PER_REQUEST_MAX events; event ids must be able to index all of those.
if (INGEST_EVENTS_PER_REQUEST_MAX > EVENTS_PER_MESSAGE_MAX) throw new Error("partition limits: a text message may carry more events than an event id can index");
/**
 * A delivery that arrives while the lease is not trusted goes back to JetStream after
 * this long: soon enough for a renewal or a new holder, late enough not to spin on it.
 */
const UNTRUSTED_NAK_DELAY_MS = 250;
/** A WAL floor with no seal (see ShardStore.publishWalFloor) is published at most this often: replays come in bursts. */
const WAL_FLOOR_PUBLISH_INTERVAL_MS = 1_000;
/** Deliveries handed back (NAK) remembered for the WAL floor; past this many the floor stays put and the partition restarts once trusted again. */
const HANDED_BACK_TRACKED_MAX = 10_000;
/**
 * A consumer that delivered nothing for this long, while a message of the shard past
 * the last one delivered has been stored this long (or a handed-back one is due
 * again), is taken for stalled and the partition restarts, recreating it: nats-server
 * 2.9 left a WAL consumer without quorum after server kills, delivering nothing and
 * reporting no error. Longer than a JetStream leader election (5-8 s measured here).
 */
const WAL_CONSUMER_STALL_MS = 15_000;
/** Rejections echoed per WAL message on the rejects subject. */
const REJECTIONS_PUBLISHED_MAX = 100;


export class PartitionActor implements Actor<PartitionMessage> {
  readonly name: string;
  private store?: ShardStore;
  private messages?: ConsumerMessages;
  private queries?: ShardQueryServer;
  private consumeLoop?: Promise<void>;
  private ticker?: ReturnType<typeof setInterval>;
  private tickQueued = false;
  /** WAL messages held (in pending rows or a memtable), by stream sequence -> ack subject. */
  private held = new Map<number, string>();
  /**
   * Sequences already in a segment that JetStream may still deliver (their ack not yet
   * past the consumer's ack floor): a redelivery of one is acked and dropped.
   */
  private durable = new Set<number>();
  private recovered = false;
  /** Counts starts: deliveries are tagged with it. */
  private incarnation = 0;
  /** Since when the consume loop waits for the consumer's next delivery (undefined while it handles one), the highest stream sequence delivered, and when the stall check last asked the stream. */
  private awaitingDeliverySinceMs: number | undefined;
  private lastDeliveredSeq = 0;
  private stallProbedAtMs = 0;
  /**
   * The highest stream sequence handled since start (from the manifest's WAL floor on),
   * and deliveries handed back (NAK) not handled since: what the WAL floor written with
   * each seal may not pass. Past HANDED_BACK_TRACKED_MAX of them the floor stays put
   * until the next start, which the first delivery handled once trusted again forces.
   */
  private maxHandledSeq = 0;
  private handedBack = new Set<number>();
  private handedBackOverflow = false;
  private floorPublishing = false;
  private floorPublishedAtMs = 0;
  private sealing = false;
  /** When the last seal ended (or the partition started), and when an idle compaction was last tried. */
  private lastSealAtMs = Date.now();
  private idleCompactionAtMs = 0;
  private flushing = false;
  private roomWaiters: (() => void)[] = [];
  private stopping = false;
  /** Stored time (ms) of the last WAL message handled, and whether more were waiting then (in JetStream, or the mailbox): the shard's lag. */
  private lastHandledStoredMs = 0;
  private moreInStream = false;
  private moreWaiting = false;
  /** Where start() is, for a log line when a start takes long. */
  startPhase = "not started";
  private counters = { events: 0, messages: 0, rejected: 0, replaysSkipped: 0, redeliveries: 0, sealFailures: 0 };

  constructor(private readonly options: PartitionActorOptions) {
    this.name = `partition-${options.shard}`;
  }

  async start(context: ActorContext<PartitionMessage>): Promise<void> {
    const { shard, js, jsm, nc } = this.options;
    // A restart (after a failure) while the lease is not trusted must not take the shard's consumer from its next holder.
    if (this.options.trusted?.() === false) throw new FencedError(`shard ${shard}: not restarted while its lease is not trusted`);
    this.stopping = false;
    // A restart replays its backlog first: not idle, whatever the last run was.
    this.lastSealAtMs = Date.now();
    this.idleCompactionAtMs = 0;
    this.held = new Map();
    this.durable = new Set();
    this.recovered = false;
    this.moreInStream = false;
    this.moreWaiting = false;
    this.handedBack = new Set();
    this.handedBackOverflow = false;
    const incarnation = ++this.incarnation;
    this.startPhase = "opening the shard store (manifest, segments)";
    this.store = await ShardStore.open({
      shard,
      paths: this.options.paths,
      duck: this.options.duck,
      sealRowsMax: this.options.sealRowsMax,
      sealAgeMs: this.options.sealAgeMs,
      sealBytesMax: this.options.sealBytesMax,
      flushIntervalMs: this.options.flushIntervalMs,
      scheduler: this.options.storageWork,
      log: this.options.log,
      manifestStore: this.options.manifestStore,
      walFloorAfter: (sealing) => this.walFloorAfter(sealing),
    });
    // The consumer is recreated from the manifest's WAL floor, not the old consumer's
    // ack floor (see ShardManifest.walFloor): JetStream redelivers everything after it
    // now, rather than after the ack wait of a previous (dead) incarnation, and what
    // segments already hold is recognized and acked. Both steps wait out a WAL leader
    // election (bounded) rather than fail the start.
    this.startPhase = "recreating the WAL consumer";
    const startSeq = this.store.walFloor + 1;
    this.maxHandledSeq = startSeq - 1;
    await untilJetStreamAnswers(`shard ${shard} consumer`, () => recreateShardConsumer(jsm, shard, startSeq), this.options.log);
    this.options.log(`${this.name}: consuming the WAL from seq ${startSeq}`);
    this.startPhase = "binding the WAL consumer";
    const consumer = await untilJetStreamAnswers(`shard ${shard} consumer`, () => js.consumers.get(WAL_STREAM, shardConsumerName(shard)), this.options.log);
    this.messages = await consumer.consume({ max_messages: CONSUME_MESSAGES_MAX });
    this.startPhase = "started";
    const messages = this.messages;
    let lastDelivery = 0;
    this.lastDeliveredSeq = startSeq - 1;
    this.awaitingDeliverySinceMs = Date.now();
    this.consumeLoop = (async () => {
      for await (const message of messages) {
        this.awaitingDeliverySinceMs = undefined;
        try {
          // The floor assumes every delivery arrives: one lost in flight (a reconnect, a
          // server kill) comes again only after the ack wait, and a floor written past it
          // meanwhile would let the next start skip it. The consumer numbers its deliveries
          // from 1, redeliveries included: a gap means one never reached us.
          const missed = missedDelivery(lastDelivery, message.info.deliverySequence);
          if (missed !== undefined) throw new Error(`shard ${shard}: WAL delivery ${missed} of this consumer never arrived (lost in flight); restarting from the manifest's WAL floor so nothing is skipped`);
          lastDelivery = Math.max(lastDelivery, message.info.deliverySequence);
          this.lastDeliveredSeq = Math.max(this.lastDeliveredSeq, message.seq);
          if (!this.recovered) {
            // The first delivery after a (re)start is the lowest unacked sequence: what
            // segments hold from there on was sealed but maybe not acked before a crash.
            // Before anything is acked: a consumer that jumped over messages must not move the ack floor past them.
            await this.checkNothingSkipped(startSeq, message.seq);
            this.durable = await this.store!.durableSeqsFrom(message.seq);
            this.recovered = true;
          }
          await this.room();
          if (this.stopping) break;
          if (this.options.trusted?.() === false) {
            // The lease is not trusted (renewals late, or lost): hand the message back, for us once renewed or for the next holder.
            // A redelivery of a message held is not tracked: the ack after its seal covers it, and no redelivery would clear it.
            if (this.handedBack.size >= HANDED_BACK_TRACKED_MAX) this.handedBackOverflow = true;
            else if (!this.held.has(message.seq)) this.handedBack.add(message.seq);
            message.nak(UNTRUSTED_NAK_DELAY_MS);
            continue;
          }
          // Too many handed back to track: only a restart (from the floor, which stayed put) brings the floor forward again.
          if (this.handedBackOverflow) throw new Error(`shard ${shard}: over ${HANDED_BACK_TRACKED_MAX} deliveries were handed back while the lease was not trusted; restarting from the manifest's WAL floor`);
          await context.mailbox.put({ type: "wal", message, incarnation });
        } finally {
          this.awaitingDeliverySinceMs = Date.now();
        }
      }
    })().catch((error) => {
      if (!this.stopping) context.fail(error);
    });
    const queryNc = this.options.queryNc ?? nc;
    this.queries = new ShardQueryServer({ nc: queryNc, shard, duck: this.options.duck, paths: this.options.paths, store: () => (context.mailbox.isClosed || this.options.trusted?.() === false ? undefined : this.store), log: this.options.log });
    this.queries.start();
    // The query subscriptions are registered with the server before the shard says it is up, so no early query finds no responder.
    await queryNc.flush();
    this.ticker = setInterval(() => {
      if (this.tickQueued) return;
      this.tickQueued = true;
      context.self({ type: "tick" });
    }, this.options.tickMs ?? Math.max(10, Math.min(100, this.options.flushIntervalMs / 2)));
  }

  /**
   * Fails the partition (it restarts and recreates its consumer) when the consumer's
   * first delivery jumped over messages of the shard that the stream holds from
   * `startSeq`. nats-server 2.9 does that when the consumer's leader is a server still
   * catching up after a restart: it starts from that server's own first sequence.
   */
  private async checkNothingSkipped(startSeq: number, firstDelivered: number): Promise<void> {
    if (firstDelivered <= startSeq) return;
    const { shard, jsm } = this.options;
    const stored = await untilJetStreamAnswers(`shard ${shard} WAL`, () => firstStoredOfShard(jsm, shard, startSeq), this.options.log);
    const skipped = skippedWalMessage(startSeq, firstDelivered, stored?.seq);
    if (skipped !== undefined) {
      // Nothing was sealed from this consumer, so the manifest's WAL floor still stands below the message; the restart starts there.
      throw new Error(`shard ${shard}: the WAL consumer started at seq ${startSeq} but first delivered seq ${firstDelivered}, skipping seq ${skipped} that the stream holds (its leader was a server still catching up); recreating it`);
    }
  }

  /**
   * The WAL floor once `sealing` is in a segment: below the lowest message still held
   * (or handed back), else the highest handled. Deliveries come in stream order from the
   * start (checked at the first), so every message of the shard up to it is handled.
   */
  private walFloorAfter(sealing: readonly number[]): number | undefined {
    if (this.handedBackOverflow) return undefined;
    const sealed = new Set(sealing);
    let lowest = Infinity;
    for (const seq of this.held.keys()) if (seq < lowest && !sealed.has(seq)) lowest = seq;
    for (const seq of this.handedBack) if (seq < lowest) lowest = seq;
    return lowest === Infinity ? this.maxHandledSeq : lowest - 1;
  }

  /** Forgets sealed sequences JetStream can no longer redeliver (at or below the consumer's ack floor; the WAL trimmer reads it). */
  forgetDurableThrough(ackFloor: number): void {
    for (const seq of this.durable) if (seq <= ackFloor) this.durable.delete(seq);
  }

  handle(message: PartitionMessage, context: ActorContext<PartitionMessage>): void {
    switch (message.type) {
      case "wal": {
        if (message.incarnation !== this.incarnation) return;
        // The stored time is parsed out of the reply subject on every access: read it once.
        const ingestUs = Number(message.message.timestampNanos / 1000n);
        this.noteLag(message.message, ingestUs, context);
        this.ingest(message.message, ingestUs);
        return;
      }
      case "tick":
        // What waited behind the last WAL message may have been only this tick: with the
        // mailbox empty now, the lag stops growing. It once kept growing with no WAL message
        // to follow while producers were paused for that very lag. (Asking the mailbox at
        // each lagMs instead counted a fresh message behind an old one as the old one's age.)
        if (context.mailbox.size === 0) this.moreWaiting = this.moreInStream;
        this.tickQueued = false;
        this.onTick(context);
        return;
    }
  }

  /**
   * How far behind this shard is: the age (since JetStream stored it) of the oldest
   * message whose rows are not searchable yet, less the flush interval they may wait
   * anyway. Rows waiting for a flush count, and so
   * do messages not handled yet: while more waited behind the last one handled (in
   * JetStream or the mailbox), the lag is at least that one's age. It grows while the
   * shard is stalled, which is when it matters.
   */
  lagMs(nowMs: number): number {
    const delivery = this.moreWaiting ? nowMs - this.lastHandledStoredMs : 0;
    const oldestUnsearchable = this.store?.oldestUnsearchableStoredMs ?? Infinity;
    // Rows wait up to a flush interval by design: only waiting beyond it is falling behind.
    const flushWait = oldestUnsearchable === Infinity ? 0 : nowMs - oldestUnsearchable - this.options.flushIntervalMs;
    return Math.max(0, delivery, flushWait);
  }

  private noteLag(message: JsMsg, ingestUs: number, context: ActorContext<PartitionMessage>): void {
    this.lastHandledStoredMs = Math.floor(ingestUs / 1000);
    this.moreInStream = message.info.pending > 0;
    this.moreWaiting = this.moreInStream || context.mailbox.size > 0;
  }

  /** Stops intake: no more WAL messages are pulled; what is in the mailbox still gets handled. */
  stopIntake(): void {
    this.stopping = true;
    for (const waiter of this.roomWaiters.splice(0)) waiter();
    this.messages?.stop();
  }

  async stop(reason: ExitReason): Promise<void> {
    this.stopIntake();
    if (this.ticker) clearInterval(this.ticker);
    await this.consumeLoop;
    const store = this.store;
    if (reason === "quit" && store) {
      // Ordered shutdown: seal what arrived and ack it, so a restart replays nothing.
      try {
        this.ackSealed(await store.seal());
        // A final seal of only empty messages, or replays acked without a seal, writes no floor: publish it so the WAL trims all of it.
        const floor = this.walFloorAfter([]);
        if (floor !== undefined) await store.publishWalFloor(floor);
        await this.options.nc.flush();
      } catch (error) {
        this.options.log(`${this.name}: final seal or WAL floor publish failed, the WAL will replay what it did not cover: ${describe(error)}`);
      }
    }
    await this.queries?.stop();
    this.queries = undefined;
    this.store = undefined;
    await store?.close();
  }

  /** Events stored so far (the node's ingestion rate samples it every second). */
  get eventsTotal(): number {
    return this.counters.events;
  }

  snapshot(): Record<string, unknown> {
    return { shard: this.options.shard, lagMs: this.lagMs(Date.now()), pendingAcks: this.held.size, durableTracked: this.durable.size, activeQueries: this.queries?.activeQueries ?? 0, ...this.counters, ...this.queries?.counters, store: this.store?.stats() };
  }

  /** Resolves when the shard has room for more WAL messages (backpressure to the pull consumer). */
  private room(): Promise<void> {
    if (this.hasRoom()) return Promise.resolve();
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  private hasRoom(): boolean {
    if (this.stopping || !this.store) return true;
    // Flushes continue while a seal runs, so the memtable can outgrow the seal threshold meanwhile: bound it.
    return this.store.pendingRowCount < PENDING_ROWS_MAX && this.store.pendingBytes < PENDING_BYTES_MAX && this.held.size < PENDING_ACKS_MAX && this.store.unsealedRowCount < this.options.sealRowsMax * UNSEALED_ROWS_SEAL_MULTIPLE;
  }

  private wakeRoomWaiters(): void {
    if (this.hasRoom()) for (const waiter of this.roomWaiters.splice(0)) waiter();
  }

  private ingest(message: JsMsg, ingestUs: number): void {
    const store = this.store!;
    const seq = message.seq;
    this.counters.messages++;
    if (seq > this.maxHandledSeq) this.maxHandledSeq = seq;
    this.handedBack.delete(seq);
    if (this.durable.has(seq)) {
      // Already in a segment (a replay after a crash between publish and ack, or a lost ack).
      this.counters.replaysSkipped++;
      this.options.nc.publish(replySubject(message), ACK);
      return;
    }
    if (this.held.has(seq)) {
      // A redelivery of a message we hold: the ack after its seal covers it (acks go by stream sequence).
      this.counters.redeliveries++;
      return;
    }
    const subject = parseWalSubject(message.subject);
    this.held.set(seq, replySubject(message));
    if (!subject || subject.shard !== this.options.shard) {
      this.reject(subject?.tenant ?? "unknown", seq, [{ line: 0, error: `subject ${message.subject} does not belong to shard ${this.options.shard}` }], 1);
      store.skip(seq);
      return;
    }
    const headers = message.headers;
    const opened = openWalPayload(message.data, headers);
    if (!opened.ok) {
      // Compressed past the inflate cap, corrupt, or an unknown encoding: this message is refused whole, the next goes on.
      this.reject(subject.tenant, seq, [{ line: 0, error: `${opened.code}: ${opened.error}` }], 1);
      store.skip(seq);
      return;
    }
    const { bytes: data, format } = opened;
    const rows = store.pendingRowBuffer;
    const mark = rows.mark();
    rows.beginMessage(ingestUs, seq, subject.tenant);
    // Events storage refuses (a string that is not UTF-8, a time no BIGINT holds): the rest of the message is kept.
    // Their error names the event (its index in the message); `line` is 0, as for a refusal of the whole message,
    // because a decoded event no longer knows its source line.
    const refused: { line: number; error: string }[] = [];
    const refuse = (refusal: string | undefined) => {
      if (refusal !== undefined) refused.push({ line: 0, error: refusal });
    };
    if (format === "flatbuffers") {
      // Hot path: string bytes go from the batch into rows without decoding.
      const visited = visitBatch(data, (event) => refuse(rows.appendRanges(data, event, storedTimestampUs(event.timestampUs, ingestUs))));
      if (!visited.ok) {
        // A batch is all or nothing: its checksum covers every event.
        rows.rollback(mark);
        this.reject(subject.tenant, seq, [{ line: 0, error: `${visited.code}: ${visited.error}` }], 1);
      } else if (refused.length > 0) this.reject(subject.tenant, seq, refused, refused.length);
    } else {
      const decoded = decodeTextPayload(data, format, headers, ingestUs);
      // The body parser refuses a message of more events than an id can index (checked at module load).
      decoded.events.forEach((event, index) => refuse(rows.appendEvent(event, index, storedTimestampUs(event.timestampUs, ingestUs))));
      // One report for the message: the parser's rejections, then storage's.
      const count = decoded.rejectedCount + refused.length;
      if (count > 0) this.reject(subject.tenant, seq, [...decoded.rejected, ...refused], count);
    }
    const count = rows.rows - mark.rows;
    if (count === 0) {
      store.skip(seq);
      return;
    }
    store.append({ rows: count, seq, storedMs: ingestUs / 1000 });
    this.counters.events += count;
  }

  private onTick(context: ActorContext<PartitionMessage>): void {
    const store = this.store;
    if (!store) return;
    this.checkConsumerStall(context);
    if (!this.sealing && (store.needsSeal() || this.held.size >= PENDING_ACKS_MAX)) {
      this.sealing = true;
      store
        .seal()
        .then((sealedSeqs) => {
          this.ackSealed(sealedSeqs);
          this.sealing = false;
          this.lastSealAtMs = Date.now();
          this.wakeRoomWaiters();
          this.maybeCompact(context);
        })
        .catch((error) => {
          this.sealing = false;
          this.counters.sealFailures++;
          context.fail(new Error(`${this.name}: seal failed`, { cause: error }));
        });
    } else if (!this.flushing && store.needsFlush(FLUSH_ROWS_TRIGGER)) {
      // Flushes go on while a seal writes its segment: rows must not wait for seals to become searchable.
      this.flushing = true;
      store
        .flush()
        .then(() => {
          this.flushing = false;
          this.wakeRoomWaiters();
        })
        .catch((error) => {
          this.flushing = false;
          context.fail(new Error(`${this.name}: flush failed`, { cause: error }));
        });
    } else if (this.floorLagsIdle(store) && Date.now() - this.floorPublishedAtMs >= WAL_FLOOR_PUBLISH_INTERVAL_MS) {
      this.floorPublishing = true;
      this.floorPublishedAtMs = Date.now();
      store
        .publishWalFloor(this.maxHandledSeq)
        .catch((error) => context.fail(new Error(`${this.name}: publishing the WAL floor failed`, { cause: error })))
        .finally(() => (this.floorPublishing = false));
    }
    this.maybeCompactIdle(context);
  }

  /** Once nothing was sealed for compactionIdleAfterMs, merges small segments pass after pass (two are enough), then waits as long again. */
  private maybeCompactIdle(context: ActorContext<PartitionMessage>): void {
    // Never shorter than two seal ages, so steady ingest with seals a seal age apart is never idle.
    const idleAfterMs = Math.max(this.options.compactionIdleAfterMs ?? COMPACTION_IDLE_AFTER_MS, 2 * this.options.sealAgeMs);
    const now = Date.now();
    // An untrusted lease hands deliveries back, so nothing seals; a merge it wrote could not be published.
    if (this.sealing || this.options.trusted?.() === false || now - this.lastSealAtMs < idleAfterMs || now - this.idleCompactionAtMs < idleAfterMs) return;
    this.idleCompactionAtMs = now;
    this.maybeCompact(context, { idle: true }, (merged) => {
      // Merged some: the next tick looks for more.
      if (merged) this.idleCompactionAtMs = 0;
    });
  }

  /**
   * Fails the partition (it restarts and recreates its consumer) when the consume loop
   * has waited WAL_CONSUMER_STALL_MS for a delivery while one is due: a handed-back
   * message (redelivered after UNTRUSTED_NAK_DELAY_MS), or the shard's first message
   * past the last delivered, which the stream's leader has held that long (a message
   * stored just now may still be on its way). The leader is asked at most once per
   * WAL_CONSUMER_STALL_MS, only while nothing arrives and the lease is trusted (a
   * restart would be refused); an unanswered ask (an election) decides nothing.
   */
  private checkConsumerStall(context: ActorContext<PartitionMessage>): void {
    const since = this.awaitingDeliverySinceMs;
    if (since === undefined || this.stopping || this.options.trusted?.() === false) return;
    const { shard, jsm } = this.options;
    const fail = (why: string) => {
      this.awaitingDeliverySinceMs = undefined; // reported once: the restart starts a new wait
      context.fail(new Error(`shard ${shard}: the WAL consumer ${why}; recreating it`));
    };
    const state = { waitedMs: Date.now() - since, handedBack: this.handedBack.size, lastDelivered: this.lastDeliveredSeq };
    const verdict = consumerStall(state);
    if (verdict === undefined) return;
    if (verdict !== "ask") return fail(verdict);
    // One ask per WAL_CONSUMER_STALL_MS: a JetStream request times out well before the next (5 s by default).
    if (Date.now() - this.stallProbedAtMs < WAL_CONSUMER_STALL_MS) return;
    this.stallProbedAtMs = Date.now();
    firstStoredOfShard(jsm, shard, state.lastDelivered + 1)
      .then((next) => {
        const due = next ? { seq: next.seq, waitingMs: Date.now() - next.time.getTime() } : null;
        const why = consumerStall({ ...state, waitedMs: Date.now() - since, due });
        if (why !== undefined && why !== "ask" && this.awaitingDeliverySinceMs === since && !this.stopping) fail(why);
      })
      .catch(() => undefined);
  }

  /** Everything handled is durable (nothing held or handed back) but the manifest's WAL floor is behind it. */
  private floorLagsIdle(store: ShardStore): boolean {
    return this.recovered && !this.sealing && !this.floorPublishing && this.held.size === 0 && this.handedBack.size === 0 && !this.handedBackOverflow && this.maxHandledSeq > store.walFloor;
  }

  private maybeCompact(context: ActorContext<PartitionMessage>, options: { idle?: boolean } = {}, then: (merged: boolean) => void = () => {}): void {
    // The store runs one compaction at a time and answers false meanwhile.
    this.store
      ?.compact(options)
      .then(then)
      .catch((error) => context.fail(new Error(`${this.name}: compaction failed`, { cause: error })));
  }

  /** Acks exactly the WAL messages a seal made durable, and remembers them against redelivery. */
  private ackSealed(sealedSeqs: readonly number[]): void {
    for (const seq of sealedSeqs) {
      const reply = this.held.get(seq);
      if (reply === undefined) continue;
      this.options.nc.publish(reply, ACK);
      this.held.delete(seq);
      this.handedBack.delete(seq);
      this.durable.add(seq);
    }
  }

  private reject(tenant: string, seq: number, rejected: { line: number; error: string }[], count: number): void {
    this.counters.rejected += count;
    const sample = rejected.slice(0, REJECTIONS_PUBLISHED_MAX);
    this.options.nc.publish(rejectsSubject(tenant), JSON.stringify({ shard: this.options.shard, seq, count, rejected: sample }));
    this.options.log(`${this.name}: rejected ${count} event(s) of WAL message ${seq}: ${sample[0]?.error ?? ""}`);
  }
}

/**
 * The ack subject of a WAL message. Holding only this string, not the JsMsg, keeps
 * payloads collectable while their rows wait for a seal; an ack is a publish of
 * "+ACK" to it, exactly what JsMsg.ack() sends.
 */
function replySubject(message: JsMsg): string {
  const reply = (message as JsMsg & { reply?: unknown }).reply;
  if (typeof reply !== "string" || reply === "") throw new Error(`WAL message ${message.seq} has no reply subject`);
  return reply;
}

/**
 * The stream leader's first message of `shard` at or after `seq` (the WAL has direct
 * get off), or null when there is none. A server that ignored next_by_subj answers with
 * whatever message is at `seq`: one of another shard says nothing, and reads as null.
 */
async function firstStoredOfShard(jsm: JetStreamManager, shard: number, seq: number): Promise<StoredMsg | null> {
  // next_by_subj is in the server's message-get API since 2.9, not in the client's request type.
  const request = { seq, next_by_subj: walShardFilter(shard) } as unknown as { seq: number };
  const stored = await jsm.streams.getMessage(WAL_STREAM, request);
  return stored && stored.seq >= seq && parseWalSubject(stored.subject)?.shard === shard ? stored : null;
}

/**
 * The first message of the shard a consumer started at `startSeq` skipped, if any:
 * `firstStored` is the stream leader's first message of the shard at or after
 * `startSeq` (undefined: none). Pure.
 */
export function skippedWalMessage(startSeq: number, firstDelivered: number, firstStored: number | undefined): number | undefined {
  return firstStored !== undefined && firstStored >= startSeq && firstStored < firstDelivered ? firstStored : undefined;
}

/**
 * The first delivery sequence (the consumer's count of deliveries, from 1)
 * that never arrived, when `delivered` comes after `lastDelivered` with a gap; a
 * lower or repeated one (a new consumer leader resending) is no loss. Pure.
 */
export function missedDelivery(lastDelivered: number, delivered: number): number | undefined {
  return delivered > lastDelivered + 1 ? lastDelivered + 1 : undefined;
}

/**
 * Whether a WAL consumer the partition has waited on for `waitedMs` is stalled (see
 * WAL_CONSUMER_STALL_MS): undefined when not (yet), "ask" when it depends on the
 * shard's first stored message past the last delivered (`due`: its sequence and how
 * long it has been stored; null when there is none; not known yet when absent), else
 * why it is. Pure.
 */
export function consumerStall(state: { waitedMs: number; handedBack: number; lastDelivered: number; due?: { seq: number; waitingMs: number } | null }): string | "ask" | undefined {
  if (state.waitedMs < WAL_CONSUMER_STALL_MS) return undefined;
  const waited = `delivered nothing for ${Math.round(state.waitedMs / 1000)} s`;
  if (state.handedBack > 0) return `${waited} while ${state.handedBack} handed-back message(s) were due again`;
  if (state.due === undefined) return "ask";
  if (state.due === null || state.due.waitingMs < WAL_CONSUMER_STALL_MS) return undefined;
  return `${waited} while the stream has held seq ${state.due.seq} of the shard (past seq ${state.lastDelivered}, the last delivered) for ${Math.round(state.due.waitingMs / 1000)} s`;
}

/** Deletes and recreates a shard's durable consumer, delivering from `startSeq` on. */
async function recreateShardConsumer(jsm: JetStreamManager, shard: number, startSeq: number): Promise<void> {
  const name = shardConsumerName(shard);
  await jsm.consumers.delete(WAL_STREAM, name).catch((error) => {
    if (!/not found/i.test(describe(error))) throw error;
  });
  await jsm.consumers.add(WAL_STREAM, {
    durable_name: name,
    filter_subject: walShardFilter(shard),
    ack_policy: AckPolicy.Explicit,
    ...(startSeq > 1 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: startSeq } : { deliver_policy: DeliverPolicy.All }),
    ack_wait: CONSUMER_ACK_WAIT_MS * 1_000_000,
    max_ack_pending: CONSUMER_MAX_ACK_PENDING,
    max_deliver: -1,
  });
}
