// Live tail: `GET /api/v1/logs/tail` streams a tenant's new events that match a
// search filter as Server-Sent Events, within about a second of their ack.
//
// One TailHub per node. Per tenant with at least one session it holds one feed: a
// JetStream ordered consumer on the WAL filtered to the tenant's subjects (one per
// shard on nats-server 2.9, which allows one filter subject per consumer; see
// tenantLaneFilters). An ordered consumer, not a core NATS subscription, gives each
// message its stream sequence and stored time, from which the event id is computed
// exactly as the partition actor does, so a tail event's id is the id search returns
// later. Each WAL message is decoded once and fanned out to the tenant's sessions;
// each session filters in memory and keeps a bounded queue that the HTTP server pulls
// from only as fast as the socket drains. Events of one shard arrive in stream order;
// across shards, as they come (the store orders by time, not by arrival).
// A session whose queue passes its bound is told it fell behind (`event: overflow`)
// and ended; a client that goes away (abort, stream cancel) is released at once, and
// the tenant's consumer is deleted when its last session leaves.

import type { ConsumerMessages, JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { MsgHdrs, NatsConnection } from "@nats-io/transport-node";
import { describe } from "../actors/supervisor.ts";
import { HttpError } from "../http/errors.ts";
import { parseNatsVersion, versionAtLeast } from "../nats/server-process.ts";
import { decodeWalEvents } from "../ingest/wal-payload.ts";
import type { StoredEvent } from "../protocol/event.ts";
import { parseWalSubject, tailConsumerPrefix, tenantLaneFilters, WAL_STREAM } from "../protocol/subjects.ts";
import { eventId, storedTimestampUs } from "../storage/schema.ts";
import { eventContext, matchesEvent, type EventContext } from "./evaluate.ts";
import type { SearchFilter } from "./filter.ts";
import { eventToJson } from "./event-json.ts";
import { parseTailLimits, TAIL_CONSUME_EXPIRES_MS, TAIL_CONSUME_MESSAGES_MAX, TAIL_CONSUMER_INACTIVE_MS, TAIL_PULL_BYTES_MAX, TAIL_RETRY_AFTER_SECONDS, type TailLimits } from "./tail-limits.ts";

// ---------------------------------------------------------------------------------
// Decoding and matching: pure.

/** What the tail reads of a WAL message (a JsMsg has all of it). */
export interface WalMessage {
  subject: string;
  data: Uint8Array;
  seq: number;
  /** Time JetStream stored the message, nanoseconds. */
  timestampNanos: bigint;
  headers?: MsgHdrs;
}

/**
 * The events of one WAL message as the partition actor stores them: every payload
 * format, the same index per event (position among the accepted events), the same
 * stored time, and so the same id. A bad batch yields no events, as it stores none;
 * null for a subject that is not a WAL subject.
 */
export function decodeWalMessage(message: WalMessage): { tenant: string; events: StoredEvent[] } | null {
  const subject = parseWalSubject(message.subject);
  if (!subject) return null;
  const ingestUs = Number(message.timestampNanos / 1000n);
  // A compressed message is inflated (within the same cap the partitions use); one that cannot be read shows nothing, as the partitions reject it.
  const events = decodeWalEvents(message.data, message.headers, ingestUs);
  const stored = events.map((event, index): StoredEvent => ({
    ...event,
    id: eventId(ingestUs, message.seq, index),
    timestampUs: storedTimestampUs(event.timestampUs, ingestUs),
    ingestTs: ingestUs,
    tenant: subject.tenant,
    seq: message.seq,
  }));
  return { tenant: subject.tenant, events: stored };
}

/** Whether an event passes a search filter: the same meaning as the SQL of sql.ts whereSql (time range [from, to), exact list values, q). */
export function matchesFilter(filter: SearchFilter, event: StoredEvent, context?: EventContext): boolean {
  if (filter.fromUs !== undefined && event.timestampUs < filter.fromUs) return false;
  if (filter.toUs !== undefined && event.timestampUs >= filter.toUs) return false;
  if (filter.services.length > 0 && !filter.services.includes(event.service)) return false;
  if (filter.levels.length > 0 && !filter.levels.includes(event.level)) return false;
  if (filter.hostnames.length > 0 && !filter.hostnames.includes(event.hostname)) return false;
  if (filter.traceIds.length > 0 && !filter.traceIds.includes(event.traceId)) return false;
  return matchesEvent(filter.query, event, context);
}

// ---------------------------------------------------------------------------------
// SSE frames. JSON never holds a raw newline, so one `data:` line carries it.

const encoder = new TextEncoder();

function frame(eventName: string, data: unknown, id?: string): Uint8Array {
  return encoder.encode(`event: ${eventName}\n${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`);
}

const PING_FRAME = encoder.encode(": ping\n\n");

/** Why a session ended; all but client_gone are told to the client in a last frame. */
export type TailEndReason = "client_gone" | "overflow" | "feed_behind" | "feed_failed" | "shutting_down";

function finalFrame(reason: TailEndReason, lastSentId: string | null, detail: string): Uint8Array | null {
  switch (reason) {
    case "client_gone":
      return null;
    case "overflow":
    case "feed_behind":
      return frame("overflow", { error: "fell_behind", dropped_after: lastSentId, reason: reason === "overflow" ? "client" : "node", message: detail });
    case "feed_failed":
      return frame("error", { error: "tail_unavailable", dropped_after: lastSentId, message: detail });
    case "shutting_down":
      return frame("closed", { reason: "shutting_down", dropped_after: lastSentId });
  }
}

// ---------------------------------------------------------------------------------
// A session: one client's filter, bounded queue and stream.

/** Frames waiting for one client: a FIFO that never shifts a large array. */
class FrameQueue {
  private frames: Uint8Array[] = [];
  private ids: (string | null)[] = [];
  private head = 0;
  bytes = 0;

  get size(): number {
    return this.frames.length - this.head;
  }

  push(bytes: Uint8Array, id: string | null): void {
    this.frames.push(bytes);
    this.ids.push(id);
    this.bytes += bytes.byteLength;
  }

  /** Removes the oldest frame; the caller checked size > 0. */
  shift(): { bytes: Uint8Array; id: string | null } {
    const bytes = this.frames[this.head];
    const id = this.ids[this.head];
    this.head++;
    this.bytes -= bytes.byteLength;
    if (this.head >= 1024 && this.head * 2 >= this.frames.length) {
      this.frames = this.frames.slice(this.head);
      this.ids = this.ids.slice(this.head);
      this.head = 0;
    }
    return { bytes, id };
  }

  clear(): void {
    this.frames = [];
    this.ids = [];
    this.head = 0;
    this.bytes = 0;
  }
}

interface SessionOwner {
  readonly limits: Readonly<TailLimits>;
  readonly counters: TailCounters;
  release(session: TailSession, reason: TailEndReason): void;
}

class TailSession {
  readonly stream: ReadableStream<Uint8Array>;
  private readonly queue = new FrameQueue();
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private wake?: () => void;
  private ended = false;
  private cancelled = false;
  private lastSentId: string | null = null;
  private readonly onAbort = () => this.end("client_gone", "the client went away");

  constructor(
    private readonly owner: SessionOwner,
    readonly tenant: string,
    private readonly filter: SearchFilter,
    private readonly signal: AbortSignal,
  ) {
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        pull: () => this.pull(),
        cancel: () => {
          this.cancelled = true;
          this.end("client_gone", "the client went away");
        },
      },
      // Nothing is read ahead: frames wait in our bounded queue until the socket drains.
      { highWaterMark: 0 },
    );
    // Sent as soon as the server pulls: the tail is live from here on.
    this.queue.push(frame("ready", { tenant, heartbeat_ms: owner.limits.heartbeatMs, queue_events_max: owner.limits.queueEventsMax }), null);
    if (signal.aborted) queueMicrotask(this.onAbort);
    else signal.addEventListener("abort", this.onAbort, { once: true });
  }

  get queuedEvents(): number {
    return this.queue.size;
  }

  /** Queues the event if it matches; a queue past its bound ends the session as fallen behind. */
  offer(event: StoredEvent, context: EventContext, frameOf: () => Uint8Array): void {
    if (this.ended || !matchesFilter(this.filter, event, context)) return;
    const bytes = frameOf();
    const { queueEventsMax, queueBytesMax } = this.owner.limits;
    // One frame always fits an empty queue, however long, or a huge event would end every session.
    if (this.queue.size >= queueEventsMax || (this.queue.size > 0 && this.queue.bytes + bytes.byteLength > queueBytesMax)) {
      this.end("overflow", `more than ${queueEventsMax} events or ${queueBytesMax} bytes waited for this client`);
      return;
    }
    this.queue.push(bytes, event.id);
    const counters = this.owner.counters;
    counters.queueEventsPeak = Math.max(counters.queueEventsPeak, this.queue.size);
    counters.queueBytesPeak = Math.max(counters.queueBytesPeak, this.queue.bytes);
    this.wakeReader();
  }

  /** A comment frame so proxies keep an idle stream open; only into an empty queue (a full one is not idle). */
  ping(): void {
    if (this.ended || this.queue.size > 0) return;
    this.queue.push(PING_FRAME, null);
    this.wakeReader();
  }

  /** Ends the session once: drops its queue, tells the client why (unless it is gone), closes the stream, releases it. */
  end(reason: TailEndReason, detail: string): void {
    if (this.ended) return;
    this.ended = true;
    this.signal.removeEventListener("abort", this.onAbort);
    this.queue.clear();
    // desiredSize is null once the server errored the stream (a broken socket): nothing to close then.
    if (!this.cancelled && this.controller.desiredSize !== null) {
      // Straight into the stream, after what the server already pulled; the stream then
      // ends. One frame is all this holds while a stalled client keeps its socket open.
      const last = finalFrame(reason, this.lastSentId, detail);
      if (last) this.controller.enqueue(last);
      this.controller.close();
    }
    this.wakeReader();
    this.owner.release(this, reason);
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Called by the HTTP server when it wants more: up to TAIL_PULL_BYTES_MAX of frames, or a promise of the next one. */
  private pull(): Promise<void> | undefined {
    if (this.ended) return undefined;
    if (this.queue.size === 0) return new Promise<void>((resolve) => (this.wake = resolve)).then(() => this.pull());
    let pulledBytes = 0;
    while (this.queue.size > 0 && pulledBytes < TAIL_PULL_BYTES_MAX) {
      const { bytes, id } = this.queue.shift();
      this.controller.enqueue(bytes);
      pulledBytes += bytes.byteLength;
      if (id !== null) {
        this.lastSentId = id;
        this.owner.counters.eventsSent++;
      }
    }
    return undefined;
  }
}

// ---------------------------------------------------------------------------------
// The hub: feeds per tenant, session admission, heartbeat, shutdown.

interface TailCounters {
  opened: number;
  refused: number;
  eventsSent: number;
  overflows: number;
  feedsBehind: number;
  feedsFailed: number;
  messages: number;
  queueEventsPeak: number;
  queueBytesPeak: number;
}

/** One tenant's ordered consumer and the sessions it feeds. */
interface TenantFeed {
  tenant: string;
  consumerPrefix: string;
  sessions: Set<TailSession>;
  /** Resolves once the consumer exists and delivers: events acked after it reach every session. */
  ready: Promise<void>;
  /** The running consumers' message streams, one per lane. */
  lanes: ConsumerMessages[];
  stopped: boolean;
}

export interface TailHubOptions {
  /** The node's connection: its server version decides how many consumers a tenant's feed needs. */
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  log: (line: string) => void;
  /** Overrides of the bounds in tail-limits.ts (tests shrink them). */
  limits?: Partial<TailLimits>;
  /** Wall clock in ms, for the feed's lag check; injectable for tests. */
  nowMs?: () => number;
}

/** The hub's observable state, for /api/v1/system/health and tests. */
export interface TailSnapshot extends TailCounters {
  name: "tail-hub";
  sessions: number;
  tenants: number;
  /** Per tenant: its sessions, its consumers (names start with consumerPrefix), and the events its sessions' queues hold. */
  feeds: { tenant: string; sessions: number; consumerPrefix: string; consumers: number; queuedEvents: number }[];
  closed: boolean;
}

export class TailHub {
  readonly limits: Readonly<TailLimits>;
  readonly counters: TailCounters = { opened: 0, refused: 0, eventsSent: 0, overflows: 0, feedsBehind: 0, feedsFailed: 0, messages: 0, queueEventsPeak: 0, queueBytesPeak: 0 };
  private readonly feeds = new Map<string, TenantFeed>();
  private readonly stopping = new Set<Promise<void>>();
  private sessionCount = 0;
  private heartbeat?: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly nowMs: () => number;

  constructor(private readonly options: TailHubOptions) {
    this.limits = parseTailLimits(options.limits);
    this.nowMs = options.nowMs ?? Date.now;
  }

  /**
   * Opens a tail of `tenant`'s events matching `filter` as a `text/event-stream`
   * Response. Resolves once the tenant's consumer delivers, so every event acked after
   * the `ready` frame reaches the client. `signal` is the request's: its abort releases
   * the session. Throws HttpError: 503 too_many_tails (node bound), 429 too_many_tails
   * (tenant bound), 503 tail_unavailable (JetStream refused the consumer), 503 shutting_down.
   */
  async open(tenant: string, filter: SearchFilter, signal: AbortSignal): Promise<Response> {
    if (this.closed) throw new HttpError(503, "shutting_down", "the node is shutting down", TAIL_RETRY_AFTER_SECONDS);
    if (this.sessionCount >= this.limits.sessionsMax) {
      this.counters.refused++;
      throw new HttpError(503, "too_many_tails", `this node serves ${this.limits.sessionsMax} tails already`, TAIL_RETRY_AFTER_SECONDS);
    }
    const feed = this.feeds.get(tenant) ?? this.startFeed(tenant);
    if (feed.sessions.size >= this.limits.sessionsPerTenantMax) {
      this.counters.refused++;
      throw new HttpError(429, "too_many_tails", `tenant ${tenant} has ${this.limits.sessionsPerTenantMax} tails open already`, TAIL_RETRY_AFTER_SECONDS);
    }
    const session = new TailSession(this, tenant, filter, signal);
    feed.sessions.add(session);
    if (this.sessionCount++ === 0) this.startHeartbeat();
    this.counters.opened++;
    try {
      await feed.ready;
    } catch (error) {
      // failFeed already ended the session; the client gets a status instead of a stream.
      throw new HttpError(503, "tail_unavailable", `cannot start the tail: ${describe(error)}`, 1);
    }
    return new Response(session.stream, {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache, no-transform", "x-accel-buffering": "no" },
    });
  }

  snapshot(): TailSnapshot {
    const feeds = [...this.feeds.values()].map((feed) => ({
      tenant: feed.tenant,
      sessions: feed.sessions.size,
      consumerPrefix: feed.consumerPrefix,
      consumers: feed.lanes.length,
      queuedEvents: [...feed.sessions].reduce((sum, session) => sum + session.queuedEvents, 0),
    }));
    return { name: "tail-hub", sessions: this.sessionCount, tenants: this.feeds.size, feeds, closed: this.closed, ...this.counters };
  }

  /** Ends every stream (a last `event: closed` frame), deletes every consumer, and refuses new tails. */
  async close(): Promise<void> {
    this.closed = true;
    for (const feed of [...this.feeds.values()]) for (const session of [...feed.sessions]) session.end("shutting_down", "the node is shutting down");
    this.stopHeartbeat();
    await Promise.all([...this.stopping]);
  }

  /** SessionOwner: a session ended; the last one of a tenant stops its feed. */
  release(session: TailSession, reason: TailEndReason): void {
    const feed = this.feeds.get(session.tenant);
    if (!feed || !feed.sessions.delete(session)) return;
    if (reason === "overflow") this.counters.overflows++;
    if (--this.sessionCount === 0) this.stopHeartbeat();
    if (feed.sessions.size === 0) this.stopFeed(feed);
  }

  private startFeed(tenant: string): TenantFeed {
    const feed: TenantFeed = { tenant, consumerPrefix: tailConsumerPrefix(tenant, crypto.randomUUID().replaceAll("-", "").slice(0, 12)), sessions: new Set(), ready: Promise.resolve(), lanes: [], stopped: false };
    this.feeds.set(tenant, feed);
    feed.ready = this.startLanes(feed);
    // open() awaits ready too and answers 503; here the feed's sessions are ended.
    feed.ready.catch((error) => this.failFeed(feed, error));
    return feed;
  }

  /**
   * Starts the feed's lanes: one ordered consumer per group of the tenant's WAL
   * subjects (see tenantLaneFilters). Settles only once every lane either runs or
   * failed, so stopLanes knows every consumer there will be.
   */
  private async startLanes(feed: TenantFeed): Promise<void> {
    const { nc, js, jsm } = this.options;
    const info = await jsm.streams.info(WAL_STREAM);
    const multipleFilters = versionAtLeast(parseNatsVersion(nc.info?.version ?? "0.0.0"), 2, 10, 0);
    const lanes = tenantLaneFilters(feed.tenant, info.config.subjects ?? [], multipleFilters);
    if (lanes.length === 0) throw new Error(`the ${WAL_STREAM} stream has no subject a tenant's tail can follow`);
    // An explicit start sequence rather than DeliverPolicy.New: the ordered consumer
    // recreates itself after a reconnect from its last delivered sequence, and with
    // New and nothing delivered yet that would be sequence 1, the whole WAL.
    const startSeq = info.state.last_seq + 1;
    const started = await Promise.allSettled(
      lanes.map(async (filter, lane) => {
        const consumer = await js.consumers.get(WAL_STREAM, { name_prefix: `${feed.consumerPrefix}-${lane}`, filter_subjects: filter.length === 1 ? filter[0] : filter, opt_start_seq: startSeq, inactive_threshold: TAIL_CONSUMER_INACTIVE_MS });
        const messages = await consumer.consume({ max_messages: TAIL_CONSUME_MESSAGES_MAX, expires: TAIL_CONSUME_EXPIRES_MS });
        feed.lanes.push(messages);
        void this.runLane(feed, messages).catch((error) => this.failFeed(feed, error));
      }),
    );
    const failed = started.find((result) => result.status === "rejected");
    if (failed) throw failed.reason;
  }

  private async runLane(feed: TenantFeed, messages: ConsumerMessages): Promise<void> {
    for await (const message of messages) {
      if (feed.stopped) continue; // the iterator ends once stopLanes closed it
      this.counters.messages++;
      const lagMs = this.nowMs() - Number(message.timestampNanos / 1_000_000n);
      if (lagMs > this.limits.feedLagMaxMs) {
        this.counters.feedsBehind++;
        this.options.log(`tail: tenant ${feed.tenant}'s feed is ${lagMs} ms behind the WAL; ending its ${feed.sessions.size} session(s)`);
        for (const session of [...feed.sessions]) session.end("feed_behind", `this node's tail is behind the WAL by more than ${this.limits.feedLagMaxMs} ms`);
        continue;
      }
      const decoded = decodeWalMessage(message);
      if (!decoded || decoded.tenant !== feed.tenant) continue; // not this tenant's: the filter subjects make it impossible
      for (const event of decoded.events) {
        // The frame and the lower-cased message and parsed metadata are shared by every session.
        let bytes: Uint8Array | undefined;
        const frameOf = () => (bytes ??= frame("log", eventToJson(event), event.id));
        const context = eventContext(event);
        for (const session of feed.sessions) session.offer(event, context, frameOf);
      }
    }
    if (!feed.stopped) {
      const cause = await messages.closed();
      throw new Error(`a tail consumer of tenant ${feed.tenant} stopped`, { cause });
    }
  }

  private failFeed(feed: TenantFeed, error: unknown): void {
    if (feed.stopped) {
      this.options.log(`tail: tenant ${feed.tenant}'s feed failed while stopping: ${describe(error)}`);
      return;
    }
    this.counters.feedsFailed++;
    this.options.log(`tail: tenant ${feed.tenant}'s feed failed: ${describe(error)}`);
    // The last session's release stops the feed (and deletes a consumer that exists).
    for (const session of [...feed.sessions]) session.end("feed_failed", `the tail stopped: ${describe(error)}`);
    if (feed.sessions.size === 0 && !feed.stopped) this.stopFeed(feed);
  }

  private stopFeed(feed: TenantFeed): void {
    feed.stopped = true;
    if (this.feeds.get(feed.tenant) === feed) this.feeds.delete(feed.tenant);
    const done = this.stopLanes(feed)
      .catch((error) => this.options.log(`tail: stopping tenant ${feed.tenant}'s consumers failed (JetStream removes them after ${TAIL_CONSUMER_INACTIVE_MS} ms idle): ${describe(error)}`))
      .finally(() => this.stopping.delete(done));
    this.stopping.add(done);
  }

  private async stopLanes(feed: TenantFeed): Promise<void> {
    // Wait for every lane to have started or failed (a failure is failFeed's to report).
    await Promise.allSettled([feed.ready]);
    await Promise.all(feed.lanes.map((messages) => messages.close()));
    // After a reconnect an ordered consumer may have recreated itself under a new
    // serial: delete every consumer of this feed's prefix, not only the first ones.
    // Names first, deletes after: deleting while listing pages by offset would skip some.
    const { jsm } = this.options;
    const names: string[] = [];
    for await (const info of jsm.consumers.list(WAL_STREAM)) if (info.name.startsWith(`${feed.consumerPrefix}-`)) names.push(info.name);
    for (const name of names) await jsm.consumers.delete(WAL_STREAM, name);
  }

  private startHeartbeat(): void {
    this.heartbeat = setInterval(() => {
      for (const feed of this.feeds.values()) for (const session of feed.sessions) session.ping();
    }, this.limits.heartbeatMs);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
