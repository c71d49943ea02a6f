// Shipper: the logger's background loop. It takes batches from the ring when one is
// due (full by count or bytes, its oldest event past the age bound, or a flush asked
// for it), holds them while a node asks producers to pause (before taking them, so a
// pause fills the buffer and the full-buffer policy applies), publishes each over
// JetStream with a message id unique to the batch, and retries a failed publish with
// backoff under the SAME id until the retry window closes: JetStream's duplicate
// window then drops a retry whose first attempt had in fact been stored.
//
// Flushes are tracked by event sequence: events are numbered as they enter the ring,
// taken in that order, and a flush up to N resolves once no event below N is still
// buffered or in flight (acked, or given up and counted).

import { ClosedConnectionError, InvalidArgumentError, type MsgHdrs } from "@nats-io/transport-node";
import { walSubject } from "../protocol/subjects.ts";
import type { FlowGate } from "./flow-gate.ts";
import type { EncodedBatch } from "../ingest/wal-publisher.ts";
import { encodeWireBatches, wireHeaders } from "./batch-encoder.ts";
import { pause } from "./connection.ts";
import { LOGGER_RETRY_BACKOFF_MAX_MS, LOGGER_RETRY_BACKOFF_MIN_MS } from "./limits.ts";
import { LoggerError, type ParsedLoggerOptions } from "./options.ts";
import type { EventRing, TakenBatch } from "./ring-buffer.ts";

/** What a publish needs from JetStream (js.publish fits; tests wrap it to lose acks). */
export type PublishFunction = (subject: string, payload: Uint8Array, options: { msgID: string; headers?: MsgHdrs; timeout: number }) => Promise<{ duplicate: boolean }>;

/** Where the shipper publishes, known once the logger is connected. */
export interface ShipTarget {
  publish: PublishFunction;
  nextShard: () => number;
  /** Largest payload of one message, bytes. */
  payloadBytesMax: number;
  gate?: FlowGate;
  /** False once the connection is closed for good: retrying is pointless then. */
  usable: () => boolean;
}

/** The shipper's counters (the logger's stats() shows them). */
export interface ShipperCounters {
  published: number;
  acked: number;
  batches: number;
  duplicates: number;
  retries: number;
  failedBatches: number;
  failedEvents: number;
  abandoned: number;
  inFlight: number;
  flowWaits: number;
  flowTimeouts: number;
}

/** Backoff before retry `attempt` (0-based): doubling from the minimum, capped, with half of it random. */
export function retryDelayMs(attempt: number, random = Math.random): number {
  const ceiling = Math.min(LOGGER_RETRY_BACKOFF_MAX_MS, LOGGER_RETRY_BACKOFF_MIN_MS * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** A publish error that no retry can fix: the payload is over the server's max_payload, or the connection is closed. */
function isPermanent(error: unknown): boolean {
  return error instanceof InvalidArgumentError || error instanceof ClosedConnectionError;
}

export class Shipper {
  readonly counters: ShipperCounters = { published: 0, acked: 0, batches: 0, duplicates: 0, retries: 0, failedBatches: 0, failedEvents: 0, abandoned: 0, inFlight: 0, flowWaits: 0, flowTimeouts: 0 };
  private target?: ShipTarget;
  /** Start sequence of every batch in flight. */
  private readonly inFlight = new Set<number>();
  /** Events taken from the ring so far: the sequence of the next one to take. */
  private takenSeq = 0;
  /** Batches up to this event sequence are taken at once, due or not (a flush). */
  private flushTargetSeq = 0;
  private flushWaiters: { seq: number; resolve: () => void }[] = [];
  private messageSeq = 0;
  private ageTimer?: ReturnType<typeof setTimeout>;
  private pumpQueued = false;
  private gateWaiting = false;
  private gateIgnoredUntilMs = 0;
  /** Aborted by abandon(): the shipper is stopped for good, and retry backoffs in progress end at once. */
  private readonly stop = new AbortController();

  constructor(
    private readonly options: ParsedLoggerOptions,
    private readonly ring: EventRing,
    /** Told each time events leave the ring (the logger admits waiting logAsync calls). */
    private readonly onRoom: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Begins publishing to `target` (the logger calls this once connected). */
  start(target: ShipTarget): void {
    this.target = target;
    this.schedule();
  }

  /** The logger pushed an event: publish at once if a batch is full, else make sure the age timer runs. */
  pushed(): void {
    if (this.ring.hasFullBatch(this.options.batchEventsMax, this.options.batchBytesMax)) this.schedule();
    else if (this.ageTimer === undefined) this.armAgeTimer();
  }

  /** Resolves once every event numbered below `seq` is acked or given up. */
  flushUpTo(seq: number): Promise<void> {
    if (this.settledSeq() >= seq) return Promise.resolve();
    this.flushTargetSeq = Math.max(this.flushTargetSeq, seq);
    const settled = new Promise<void>((resolve) => this.flushWaiters.push({ seq, resolve }));
    this.schedule();
    return settled;
  }

  private get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  /** Stops for good: what is still buffered or in flight is counted as abandoned and every flush resolves. */
  abandon(): void {
    if (this.stopped) return;
    this.stop.abort();
    clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    const buffered = this.ring.clear();
    this.counters.abandoned += buffered + this.counters.inFlight;
    this.counters.inFlight = 0;
    this.takenSeq += buffered;
    this.inFlight.clear();
    this.settleFlushes(Number.MAX_SAFE_INTEGER);
  }

  /** Lowest event sequence not yet acked or given up. */
  private settledSeq(): number {
    let lowest = this.takenSeq;
    for (const start of this.inFlight) if (start < lowest) lowest = start;
    return lowest;
  }

  private settleFlushes(settled = this.settledSeq()): void {
    if (this.flushWaiters.length === 0) return;
    const remaining: typeof this.flushWaiters = [];
    for (const waiter of this.flushWaiters) (waiter.seq <= settled ? waiter.resolve() : remaining.push(waiter));
    this.flushWaiters = remaining;
  }

  private schedule(): void {
    if (this.pumpQueued || this.stopped) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  private isDue(): boolean {
    const options = this.options;
    if (this.takenSeq < this.flushTargetSeq) return true;
    if (this.ring.hasFullBatch(options.batchEventsMax, options.batchBytesMax)) return true;
    const oldest = this.ring.oldestAtMs;
    return oldest !== undefined && this.now() - oldest >= options.batchAgeMs;
  }

  /** Takes and ships every due batch the in-flight bound allows. */
  private pump(): void {
    const target = this.target;
    if (!target || this.stopped) return;
    while (this.ring.size > 0 && this.inFlight.size < this.options.inFlightBatchesMax) {
      if (!this.isDue()) {
        this.armAgeTimer();
        return;
      }
      if (target.gate && this.options.flowWaitMaxMs > 0 && !target.gate.isOpen && this.now() >= this.gateIgnoredUntilMs) {
        this.waitForGate(target.gate);
        return;
      }
      const startSeq = this.takenSeq;
      const batch = this.ring.take(this.options.batchEventsMax, this.options.batchBytesMax);
      this.takenSeq += batch.events.length;
      this.inFlight.add(startSeq);
      this.counters.inFlight += batch.events.length;
      this.onRoom();
      this.ship(target, batch).then(
        () => this.settle(startSeq, batch.events.length),
        (error: unknown) => {
          // Only a throwing onError callback gets here; the batch is settled all the same.
          console.error("[sluice-logger] onError threw:", error);
          this.settle(startSeq, batch.events.length);
        },
      );
    }
  }

  private armAgeTimer(): void {
    clearTimeout(this.ageTimer);
    this.ageTimer = undefined;
    const oldest = this.ring.oldestAtMs;
    if (oldest === undefined || this.stopped) return;
    const delay = Math.max(0, oldest + this.options.batchAgeMs - this.now());
    this.ageTimer = setTimeout(() => {
      this.ageTimer = undefined;
      this.pump();
    }, delay);
    // The logger must never be what keeps a process alive; flushOnExit and close() deliver the rest.
    this.ageTimer.unref?.();
  }

  private waitForGate(gate: FlowGate): void {
    if (this.gateWaiting) return;
    this.gateWaiting = true;
    this.counters.flowWaits++;
    gate.wait(this.options.flowWaitMaxMs).then(
      () => {
        this.gateWaiting = false;
        this.schedule();
      },
      () => {
        // The pause outlasted flowWaitMaxMs: publish anyway for as long again (see LOGGER_FLOW_WAIT_MAX_MS).
        this.gateWaiting = false;
        this.counters.flowTimeouts++;
        this.gateIgnoredUntilMs = this.now() + this.options.flowWaitMaxMs;
        this.schedule();
      },
    );
  }

  /** Publishes one taken batch: one message, or more if it had to be split to fit max_payload. */
  private async ship(target: ShipTarget, batch: TakenBatch): Promise<void> {
    const options = this.options;
    let parts: EncodedBatch[];
    try {
      parts = encodeWireBatches(batch.events, { format: options.format, compression: options.compression, payloadBytesMax: target.payloadBytesMax });
    } catch (error) {
      // normalizeRecord produced every event, so the encoder refusing one is a bug; report it and count the batch lost.
      this.fail(batch.events.length, new LoggerError("batch_failed", `could not encode a batch of ${batch.events.length} events`, { cause: error }));
      return;
    }
    await Promise.all(parts.map((part) => this.publishPart(target, part)));
  }

  private settle(startSeq: number, count: number): void {
    if (this.stopped) return;
    this.inFlight.delete(startSeq);
    this.counters.inFlight -= count;
    this.settleFlushes();
    this.schedule();
  }

  /** One message, retried under one message id until acked, the retry window closes, or the logger is abandoned. */
  private async publishPart(target: ShipTarget, part: EncodedBatch): Promise<void> {
    const options = this.options;
    const msgID = `${options.producerId}-${++this.messageSeq}`;
    const subject = walSubject(options.tenant, target.nextShard());
    // One headers object for every attempt: JetStream's publish sets the same message id in it each time.
    const headers = wireHeaders(options.format, options.compression);
    const firstAttemptMs = this.now();
    this.counters.published += part.count;
    for (let attempt = 0; ; attempt++) {
      try {
        const ack = await target.publish(subject, part.payload, { msgID, headers, timeout: options.publishTimeoutMs });
        if (this.stopped) return;
        if (ack.duplicate) this.counters.duplicates++;
        this.counters.acked += part.count;
        this.counters.batches++;
        return;
      } catch (error) {
        if (this.stopped) return;
        const delay = retryDelayMs(attempt);
        const elapsed = this.now() - firstAttemptMs;
        const hopeless = isPermanent(error) || !target.usable();
        if (hopeless || elapsed + delay > options.retryWindowMs) {
          const why = hopeless ? "cannot succeed" : `still failing after ${elapsed} ms`;
          this.fail(part.count, new LoggerError("batch_failed", `batch ${msgID} of ${part.count} events to ${subject} ${why} (${attempt + 1} attempts): ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
          return;
        }
        this.counters.retries++;
        await pause(delay, this.stop.signal);
        if (this.stopped) return;
      }
    }
  }

  private fail(events: number, error: LoggerError): void {
    this.counters.failedBatches++;
    this.counters.failedEvents += events;
    this.options.onError(error);
  }
}
