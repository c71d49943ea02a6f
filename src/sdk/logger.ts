// The producer SDK's logger: a non-blocking logger for services. log() normalizes the
// record (the HTTP gateway's rules), stamps it with the call time, puts it in a bounded
// ring buffer and returns at once; the shipper (shipper.ts) batches by count, bytes and
// age, publishes over JetStream and retries under the same message id. When the buffer
// is full, the policy decides: "drop" (the default) drops the new event and counts it;
// "block" makes logAsync() wait for room (log(), which cannot wait without stalling
// the event loop the shipper runs on, hands the event back with false).
//
//   import { createLogger } from "sluice/sdk";
//   const logger = createLogger({ servers: "nats://127.0.0.1:4222", service: "checkout" });
//   logger.info("order placed", { order_id: 42 });   // returns at once
//   await logger.close();                             // flushes, then stops

import type { NormalizedEvent, Level } from "../protocol/event.ts";
import { normalizeRecord } from "../ingest/normalize.ts";
import { connectLogger, type ConnectHooks, type Connected } from "./connection.ts";
import { installExitHooks } from "./exit-hooks.ts";
import { LOGGER_BLOCK_WAITERS_MAX } from "./limits.ts";
import { LoggerError, parseLoggerOptions, type LoggerOptions, type ParsedLoggerOptions } from "./options.ts";
import { EventRing, eventBytes } from "./ring-buffer.ts";
import { Shipper, type ShipperCounters } from "./shipper.ts";

/** A record as for HTTP ingest: message (or msg) required; timestamp, level, service, hostname, trace_id, span_id, metadata; anything else lands in metadata. */
export type LogRecord = Record<string, unknown>;

/** Counters of a logger since it was created (events unless named otherwise). */
export interface LoggerStats extends ShipperCounters {
  /** Events taken into the buffer. */
  logged: number;
  /** Records log() refused as invalid (no message, a bad level, ...), never buffered. */
  invalid: number;
  /** Events dropped: the buffer was full under "drop", a logAsync waited past blockTimeoutMs, or the logger was closed. */
  dropped: number;
  /** Events log() handed back (false) under "block" because the buffer was full: the caller still holds them. */
  refused: number;
  /** Events in the buffer now, and their estimated bytes. */
  buffered: number;
  bufferedBytes: number;
  /** logAsync() calls waiting for room ("block"). */
  waiting: number;
  /** Whether the logger is connected and knows the shard count (it buffers until then). */
  ready: boolean;
  /** Whether a node asks producers to pause right now (the logger holds its batches meanwhile). */
  paused: boolean;
}

interface Waiter {
  event: NormalizedEvent;
  bytes: number;
  resolve: (taken: boolean) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class SluiceLogger {
  readonly options: ParsedLoggerOptions;
  /** Resolves true once the logger is publishing, or false if it was closed first. */
  readonly ready: Promise<boolean>;
  private readonly now: () => number;
  private readonly ring: EventRing;
  private readonly shipper: Shipper;
  private readonly counters = { logged: 0, invalid: 0, dropped: 0, refused: 0 };
  private waiters: Waiter[] = [];
  private connected?: Connected;
  private readonly stop = new AbortController();
  private closing?: Promise<LoggerStats>;
  private readonly removeExitHooks?: () => void;

  constructor(options: LoggerOptions, hooks: ConnectHooks & { now?: () => number } = {}) {
    this.options = parseLoggerOptions(options);
    this.now = hooks.now ?? Date.now;
    this.ring = new EventRing(this.options.bufferEventsMax, this.options.bufferBytesMax);
    this.shipper = new Shipper(this.options, this.ring, () => this.admitWaiters(), this.now);
    if (this.options.flushOnExit) this.removeExitHooks = installExitHooks(() => this.close());
    this.ready = connectLogger(this.options, this.stop.signal, hooks).then(
      (connected) => {
        if (!connected) return false;
        this.connected = connected;
        this.shipper.start(connected.target);
        return true;
      },
      (error: unknown) => {
        this.options.onError(new LoggerError("connect_failed", `logger setup failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
        return false;
      },
    );
  }

  /** Buffers one record and returns at once: true if taken, false if dropped, refused or invalid (see stats()). */
  log(record: LogRecord): boolean {
    const event = this.prepare(record);
    if (event === null) return false;
    if (this.tryPush(event, eventBytes(event))) return true;
    if (this.options.fullPolicy === "block") this.counters.refused++;
    else this.counters.dropped++;
    return false;
  }

  /**
   * Like log(), but under the "block" policy waits for room (in call order, at most
   * blockTimeoutMs, at most LOGGER_BLOCK_WAITERS_MAX callers at once) instead of
   * handing the event back. Resolves true once buffered, false if dropped or invalid.
   */
  logAsync(record: LogRecord): Promise<boolean> {
    const event = this.prepare(record);
    if (event === null) return Promise.resolve(false);
    const bytes = eventBytes(event);
    if (this.tryPush(event, bytes)) return Promise.resolve(true);
    if (this.options.fullPolicy === "drop" || this.waiters.length >= LOGGER_BLOCK_WAITERS_MAX || bytes > this.options.bufferBytesMax) {
      this.counters.dropped++;
      return Promise.resolve(false);
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { event, bytes, resolve, timer: setTimeout(() => this.expire(waiter), this.options.blockTimeoutMs) };
      this.waiters.push(waiter);
    });
  }

  trace(message: string, fields?: LogRecord): boolean {
    return this.leveled("TRACE", message, fields);
  }
  debug(message: string, fields?: LogRecord): boolean {
    return this.leveled("DEBUG", message, fields);
  }
  info(message: string, fields?: LogRecord): boolean {
    return this.leveled("INFO", message, fields);
  }
  warn(message: string, fields?: LogRecord): boolean {
    return this.leveled("WARN", message, fields);
  }
  error(message: string, fields?: LogRecord): boolean {
    return this.leveled("ERROR", message, fields);
  }
  fatal(message: string, fields?: LogRecord): boolean {
    return this.leveled("FATAL", message, fields);
  }

  /** Resolves once everything logged before the call is acked by JetStream or given up (counted in stats()). */
  flush(): Promise<void> {
    return this.shipper.flushUpTo(this.counters.logged);
  }

  /**
   * Flushes (at most `timeoutMs`, default closeTimeoutMs), then stops: what is still
   * buffered or in flight is counted as abandoned, later log() calls are dropped, and
   * a connection the logger opened is closed. Resolves with the final counters.
   */
  close(timeoutMs = this.options.closeTimeoutMs): Promise<LoggerStats> {
    this.closing ??= this.shutdown(timeoutMs);
    return this.closing;
  }

  stats(): LoggerStats {
    return { ...this.counters, ...this.shipper.counters, buffered: this.ring.size, bufferedBytes: this.ring.bytes, waiting: this.waiters.length, ready: this.connected !== undefined, paused: this.connected?.target.gate?.isOpen === false };
  }

  private async shutdown(timeoutMs: number): Promise<LoggerStats> {
    for (const waiter of this.waiters.splice(0)) this.dropWaiter(waiter);
    const flushed = this.flush();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const delivered = await Promise.race([flushed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
    clearTimeout(timer);
    const left = this.ring.size + this.shipper.counters.inFlight;
    this.stop.abort();
    this.shipper.abandon();
    if (!delivered) this.options.onError(new LoggerError("batch_abandoned", `close() gave up after ${timeoutMs} ms with ${left} events not acknowledged`));
    this.removeExitHooks?.();
    const connected = this.connected;
    connected?.target.gate?.close();
    if (connected?.owned) await connected.nc.close();
    return this.stats();
  }

  /** Normalizes and completes a record, or counts it as invalid or dropped (closed) and returns null. */
  private prepare(record: LogRecord): NormalizedEvent | null {
    if (this.closing) {
      this.counters.dropped++;
      return null;
    }
    let normalized: ReturnType<typeof normalizeRecord>;
    try {
      normalized = normalizeRecord(record);
    } catch (error) {
      // A record from code, not JSON, can hold what JSON cannot (a BigInt, a cycle): invalid, never a throw at the caller.
      normalized = { ok: false, error: error instanceof Error ? error.message : String(error) };
    }
    if (!normalized.ok) {
      this.counters.invalid++;
      return null;
    }
    const event = normalized.event;
    // The call time, not the ingest time: batching and retries must not move an event in time.
    if (event.timestampUs === 0) event.timestampUs = this.now() * 1000;
    if (event.service === "") event.service = this.options.service;
    if (event.hostname === "") event.hostname = this.options.hostname;
    return event;
  }

  private leveled(level: Level, message: string, fields: LogRecord | undefined): boolean {
    return this.log(fields === undefined ? { level, message } : { ...fields, level, message });
  }

  /** Buffers an event if it fits and nobody waits ahead of it. */
  private tryPush(event: NormalizedEvent, bytes: number): boolean {
    if (this.waiters.length > 0 || !this.ring.push(event, bytes, this.now())) return false;
    this.counters.logged++;
    this.shipper.pushed();
    return true;
  }

  /** Events left the ring: let waiting logAsync calls in, oldest first. */
  private admitWaiters(): void {
    let admitted = false;
    while (this.waiters.length > 0) {
      const waiter = this.waiters[0];
      if (!this.ring.push(waiter.event, waiter.bytes, this.now())) break;
      this.waiters.shift();
      clearTimeout(waiter.timer);
      this.counters.logged++;
      admitted = true;
      waiter.resolve(true);
    }
    if (admitted) this.shipper.pushed();
  }

  private expire(waiter: Waiter): void {
    const index = this.waiters.indexOf(waiter);
    if (index < 0) return;
    this.waiters.splice(index, 1);
    this.dropWaiter(waiter);
    // The one that timed out may have been at the head, holding back smaller events behind it.
    this.admitWaiters();
  }

  private dropWaiter(waiter: Waiter): void {
    clearTimeout(waiter.timer);
    this.counters.dropped++;
    waiter.resolve(false);
  }
}

/** A logger; it buffers at once and publishes once connected (see SluiceLogger.ready). */
export function createLogger(options: LoggerOptions): SluiceLogger {
  return new SluiceLogger(options);
}
