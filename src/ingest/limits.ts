// Bounds of the ingest path. Each value says why it is what it is; relationships
// between them are checked when the module loads.

import { FLOW_SIGNAL_TTL_MAX_MS } from "../protocol/limits.ts";

/** Largest accepted HTTP request body as sent (compressed or not), bytes. Loki's default push limit is in the same range. */
export const INGEST_BODY_BYTES_MAX = 32 * 1024 * 1024;
/** Largest body after decompression, bytes: caps a gzip bomb while still allowing ~10x compression of a full body. */
export const INGEST_DECOMPRESSED_BYTES_MAX = 256 * 1024 * 1024;
/** Longest single line / event, bytes. Loki and VictoriaLogs use 256 KiB; stack traces fit. */
export const INGEST_LINE_BYTES_MAX = 256 * 1024;
/** Most events in one HTTP request; beyond this the client should split. */
export const INGEST_EVENTS_PER_REQUEST_MAX = 1_000_000;
/** Most rejected-line entries reported in one response, so a wholly bad 1M-line body does not echo 1M errors. */
export const INGEST_REJECTIONS_REPORTED_MAX = 1000;
/** Longest service / hostname / trace_id / span_id value, characters. */
export const INGEST_LABEL_CHARS_MAX = 512;
/** Longest Idempotency-Key header; it becomes part of JetStream message ids. */
export const IDEMPOTENCY_KEY_CHARS_MAX = 128;
/** Deepest nesting accepted inside metadata before it is rejected (JSON bombs). */
export const INGEST_METADATA_DEPTH_MAX = 32;

/**
 * Flow control (see src/protocol/flow.ts). A node pauses producers once its slowest
 * shard is the configured lag behind (--ingest-lag-max-ms), and opens again once the
 * lag is down to this fraction of it: the gap keeps the signal from flapping on every
 * tick, and resuming while some backlog is left keeps the shards busy meanwhile.
 */
export const FLOW_RESUME_LAG_FRACTION = 0.3;
/**
 * HTTP ingest is refused (429) while the node is paused only once it is this far
 * behind. A paused NATS producer just waits a few milliseconds, but a 429 costs an
 * HTTP client a retry: at 250k events/s, 60% of this machine's capacity, a seal
 * hiccup paused the node 46 times a minute for ~65 ms each, which is no reason to
 * turn requests away.
 */
export const INGEST_HTTP_PAUSE_LAG_MIN_MS = 1_000;
/** How often a node re-reads its shards' lag: a producer at full speed hears of a lag within about this long. */
export const FLOW_TICK_MS = 50;
/** A node repeats its flow state this often, so producers that connect late learn it. */
export const FLOW_HEARTBEAT_MS = 1_000;
/** A flow signal holds this long unless repeated: a node that dies while paused blocks nobody for longer. */
export const FLOW_SIGNAL_TTL_MS = 3 * FLOW_HEARTBEAT_MS;

if (INGEST_LINE_BYTES_MAX > INGEST_BODY_BYTES_MAX) throw new Error("ingest limits: a line must fit in a body");
if (FLOW_SIGNAL_TTL_MS > FLOW_SIGNAL_TTL_MAX_MS) throw new Error("ingest limits: a node's flow signal ttl must pass the protocol's bound, or every producer would ignore it");
if (FLOW_SIGNAL_TTL_MS <= FLOW_HEARTBEAT_MS) throw new Error("ingest limits: a flow signal must outlive the heartbeat that renews it");
if (FLOW_RESUME_LAG_FRACTION <= 0 || FLOW_RESUME_LAG_FRACTION >= 1) throw new Error("ingest limits: the resume lag must lie below the pause lag");
if (INGEST_DECOMPRESSED_BYTES_MAX < INGEST_BODY_BYTES_MAX) throw new Error("ingest limits: decompressed cap below body cap");
