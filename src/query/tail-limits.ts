// Bounds of live tail (tail.ts), with why, and the one parser of the hub's options.
// Relationships are checked when the module loads.

import { WAL_BATCH_BYTES_MAX } from "../protocol/limits.ts";

/**
 * Tail sessions one node serves at once; more get 503 too_many_tails. Each session
 * costs a long-lived HTTP connection and a queue of up to TAIL_QUEUE_BYTES_MAX, so
 * 32 sessions hold at most 32 x 4 MiB = 128 MiB of queued frames in the worst case.
 */
export const TAIL_SESSIONS_MAX = 32;
/** Tail sessions of one tenant at once; more get 429 too_many_tails, so one tenant cannot take every slot. */
export const TAIL_SESSIONS_PER_TENANT_MAX = 8;
/**
 * Events (SSE frames) waiting for one client to read. Past it the client fell behind:
 * it is told so (`event: overflow`) and disconnected, never buffered without bound.
 * 10,000 events is several seconds of a busy tenant: a client that is merely slow
 * for a moment (a GC pause, a slow terminal) keeps up.
 */
export const TAIL_QUEUE_EVENTS_MAX = 10_000;
/** Bytes of frames waiting for one client (long messages reach this before the event bound). */
export const TAIL_QUEUE_BYTES_MAX = 4 * 1024 * 1024;
/**
 * Bytes of frames handed to the HTTP server per pull. The server pulls again only
 * once it wrote the last chunk to the socket, so this bounds what sits between our
 * queue and the socket; a few frames per pull save a pull per event.
 */
export const TAIL_PULL_BYTES_MAX = 64 * 1024;
/**
 * How often an idle stream gets a `: ping` comment. Proxies commonly drop a response
 * idle for 30-60 s, and the node's HTTP server closes connections idle for 120 s.
 */
export const TAIL_HEARTBEAT_MS = 15_000;
/**
 * WAL messages the tenant's ordered consumer has outstanding. Like the partition
 * consumers' CONSUME_MESSAGES_MAX: each message is at most the server's max_payload,
 * and the feed decodes one at a time, so this (not the tail) bounds what the NATS
 * client buffers for a tenant.
 */
export const TAIL_CONSUME_MESSAGES_MAX = 8;
/** How long a pull request of the tail consumer waits on the server before it is renewed. */
export const TAIL_CONSUME_EXPIRES_MS = 10_000;
/**
 * JetStream removes a tail consumer no client pulled from for this long. The hub
 * deletes its consumers when their last session leaves; this only cleans up after a
 * node that died without doing so. Must exceed the pull expiry, or a live consumer
 * between two pulls would be removed.
 */
export const TAIL_CONSUMER_INACTIVE_MS = 60_000;
/**
 * A WAL message handled this long after JetStream stored it means the node's tail
 * feed itself is behind (the node is overloaded, or it was cut from NATS and is
 * catching up): its sessions are told they fell behind and ended, rather than sent a
 * late flood with the 1 s promise silently broken.
 */
export const TAIL_FEED_LAG_MAX_MS = 10_000;
/** Retry-After of a refused tail: sessions last minutes, so a slot rarely frees within a second. */
export const TAIL_RETRY_AFTER_SECONDS = 5;

if (TAIL_SESSIONS_PER_TENANT_MAX > TAIL_SESSIONS_MAX) throw new Error("tail limits: a tenant may hold more sessions than the node");
if (TAIL_PULL_BYTES_MAX > TAIL_QUEUE_BYTES_MAX) throw new Error("tail limits: one pull may move more than a whole queue");
if (TAIL_CONSUMER_INACTIVE_MS <= TAIL_CONSUME_EXPIRES_MS) throw new Error("tail limits: a consumer could expire between two pulls");
if (TAIL_HEARTBEAT_MS >= 120_000) throw new Error("tail limits: the heartbeat must beat the HTTP server's 120 s idle timeout");
// Worst case held by the NATS client for one tenant's feed.
if (TAIL_CONSUME_MESSAGES_MAX * WAL_BATCH_BYTES_MAX > 128 * 1024 * 1024) throw new Error("tail limits: a tenant's feed may buffer over 128 MiB");

/** The hub's bounds; tests shrink them, production uses the defaults above. */
export interface TailLimits {
  sessionsMax: number;
  sessionsPerTenantMax: number;
  queueEventsMax: number;
  queueBytesMax: number;
  heartbeatMs: number;
  feedLagMaxMs: number;
}

/** Starts from the defaults, rejects nonsense, clamps to the documented maxima and freezes. */
export function parseTailLimits(given: Partial<TailLimits> = {}): Readonly<TailLimits> {
  const pick = (name: keyof TailLimits, fallback: number, max: number): number => {
    const value = given[name] ?? fallback;
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`tail ${name}: ${String(value)} is not a positive integer`);
    return Math.min(value, max);
  };
  const limits: TailLimits = {
    sessionsMax: pick("sessionsMax", TAIL_SESSIONS_MAX, TAIL_SESSIONS_MAX * 8),
    sessionsPerTenantMax: pick("sessionsPerTenantMax", TAIL_SESSIONS_PER_TENANT_MAX, TAIL_SESSIONS_MAX * 8),
    queueEventsMax: pick("queueEventsMax", TAIL_QUEUE_EVENTS_MAX, TAIL_QUEUE_EVENTS_MAX * 10),
    queueBytesMax: pick("queueBytesMax", TAIL_QUEUE_BYTES_MAX, TAIL_QUEUE_BYTES_MAX * 16),
    heartbeatMs: pick("heartbeatMs", TAIL_HEARTBEAT_MS, TAIL_HEARTBEAT_MS),
    feedLagMaxMs: pick("feedLagMaxMs", TAIL_FEED_LAG_MAX_MS, TAIL_FEED_LAG_MAX_MS * 30),
  };
  if (limits.sessionsPerTenantMax > limits.sessionsMax) throw new RangeError(`tail sessionsPerTenantMax ${limits.sessionsPerTenantMax} is over sessionsMax ${limits.sessionsMax}`);
  return Object.freeze(limits);
}
