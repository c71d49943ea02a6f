// Bounds and defaults of the producer SDK's logger (logger.ts). Each value says why it
// is what it is; relationships between them are checked when the module loads.
// parseLoggerOptions (options.ts) starts from the defaults and clamps to the ranges.

import { WAL_BATCH_BYTES_MAX, WAL_BATCH_EVENTS_MAX, WAL_DUPLICATE_WINDOW_MS } from "../protocol/limits.ts";
import { WAL_DECOMPRESSED_BYTES_MAX } from "../protocol/wal-compression.ts";

/**
 * Events the buffer holds by default before its full-buffer policy applies: 50
 * default batches, about 2 s of a busy service at 50k events/s, enough to ride out a
 * NATS leader change or a node's flow pause without dropping.
 */
export const LOGGER_BUFFER_EVENTS_DEFAULT = 100_000;
/** Bytes (estimated, see eventBytes) the buffer holds by default: bounds the logger's heap to tens of MB. */
export const LOGGER_BUFFER_BYTES_DEFAULT = 32 * 1024 * 1024;
/** Largest buffer a logger may be given, events and bytes: a logger is a guest in its service's heap. */
export const LOGGER_BUFFER_EVENTS_MAX = 10_000_000;
export const LOGGER_BUFFER_BYTES_MAX = 1024 * 1024 * 1024;

/** A batch is sent once it has this many events (2000 is where JetStream's per-message cost stops mattering). */
export const LOGGER_BATCH_EVENTS_DEFAULT = 2000;
/** ... or this many bytes (estimated): ~2000 seed-shaped events; half a megabyte publishes in about a millisecond. */
export const LOGGER_BATCH_BYTES_DEFAULT = 512 * 1024;
/** ... or once its oldest event waited this long: keeps a quiet service's events searchable within ~0.5 s. */
export const LOGGER_BATCH_AGE_MS_DEFAULT = 50;
/** Largest batch by bytes: half the WAL's batch limit, so encoding overhead and non-ASCII text still fit. */
export const LOGGER_BATCH_BYTES_MAX = WAL_BATCH_BYTES_MAX / 2;
/** Longest a batch may wait to fill: beyond a minute, "searchable soon" no longer holds. */
export const LOGGER_BATCH_AGE_MS_MAX = 60_000;

/** Batches published at once by default: overlaps JetStream round trips without flooding a slow server. */
export const LOGGER_IN_FLIGHT_BATCHES_DEFAULT = 4;
export const LOGGER_IN_FLIGHT_BATCHES_MAX = 64;

/** How long one publish waits for JetStream's ack before it is retried. */
export const LOGGER_PUBLISH_TIMEOUT_MS_DEFAULT = 5_000;
export const LOGGER_PUBLISH_TIMEOUT_MS_MAX = 30_000;
/**
 * How long a batch is retried (with the same message id) before it is given up and
 * counted as failed. Its upper bound keeps the last retry's ack inside JetStream's
 * duplicate window, which is what makes a retry of a stored batch store nothing twice.
 */
export const LOGGER_RETRY_WINDOW_MS_DEFAULT = 60_000;
export const LOGGER_RETRY_WINDOW_MS_MAX = 60_000;
/** First backoff between retries, doubled each time up to the maximum (with jitter). */
export const LOGGER_RETRY_BACKOFF_MIN_MS = 100;
export const LOGGER_RETRY_BACKOFF_MAX_MS = 5_000;

/**
 * Longest the logger holds its batches while a node asks producers to pause. Past it
 * the logger publishes anyway: a pause that never lifts is more likely a stale or
 * rogue signal than a node that is still catching up, and --wal-max-bytes still
 * bounds the WAL.
 */
export const LOGGER_FLOW_WAIT_MAX_MS = 60_000;

/** close() waits at most this long by default for the buffer to drain before it gives up what is left. */
export const LOGGER_CLOSE_TIMEOUT_MS_DEFAULT = 10_000;
export const LOGGER_CLOSE_TIMEOUT_MS_MAX = 120_000;

/** With the "block" policy, logAsync() waits at most this long for room before the event is dropped. */
export const LOGGER_BLOCK_TIMEOUT_MS_DEFAULT = 10_000;
/** With the "block" policy, at most this many logAsync() calls wait at once; more are dropped at once. */
export const LOGGER_BLOCK_WAITERS_MAX = 10_000;

/** Backoff between attempts to connect or to read the WAL's shard count while no node is there yet. */
export const LOGGER_SETUP_RETRY_MAX_MS = 5_000;

/**
 * Bytes added to an event's string lengths to estimate its size (FlatBuffers vtable,
 * offsets, timestamp and level; NDJSON keys). Sizes are estimates: counting exact
 * UTF-8 bytes would cost the caller's thread a pass over every string.
 */
export const EVENT_OVERHEAD_BYTES = 64;

// A default batch must fit the WAL's limits, or the logger could build a batch no node takes.
if (LOGGER_BATCH_EVENTS_DEFAULT > WAL_BATCH_EVENTS_MAX) throw new Error("sdk limits: a default batch holds more events than a WAL batch may");
if (LOGGER_BATCH_BYTES_MAX > WAL_BATCH_BYTES_MAX || LOGGER_BATCH_BYTES_DEFAULT > LOGGER_BATCH_BYTES_MAX) throw new Error("sdk limits: a batch must fit a WAL batch");
if (LOGGER_BATCH_BYTES_MAX > WAL_DECOMPRESSED_BYTES_MAX) throw new Error("sdk limits: a compressed batch must inflate within the consumer's cap");
// The buffer must hold at least one full batch, or batches by count or size never fill.
if (LOGGER_BUFFER_EVENTS_DEFAULT < LOGGER_BATCH_EVENTS_DEFAULT || LOGGER_BUFFER_BYTES_DEFAULT < LOGGER_BATCH_BYTES_DEFAULT) throw new Error("sdk limits: the default buffer must hold a default batch");
// Every retry, and its ack, must fall inside JetStream's duplicate window, or a retry of a stored batch could store it twice.
if (LOGGER_RETRY_WINDOW_MS_MAX + LOGGER_PUBLISH_TIMEOUT_MS_MAX >= WAL_DUPLICATE_WINDOW_MS) throw new Error("sdk limits: retries must end within the WAL's duplicate window");
if (LOGGER_RETRY_BACKOFF_MIN_MS > LOGGER_RETRY_BACKOFF_MAX_MS) throw new Error("sdk limits: backoff bounds are reversed");
