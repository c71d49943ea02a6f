// Bounds of the storage path, with why. Relationships are checked at load.

/**
 * Rows waiting in JS for the next memtable flush, per shard, before the WAL consumer
 * stops pulling. Each row is ~0.4 KB of NDJSON and a shard keeps two row buffers that
 * grow to the largest flush: 200k rows let 16 shards hold ~2.5 GB when the node fell
 * behind; 60k (~25 MB a buffer) is still two flush triggers' worth.
 */
export const PENDING_ROWS_MAX = 60_000;
/** Flush to the memtable early once this many rows wait, so one flush stays a few MB. */
export const FLUSH_ROWS_TRIGGER = 25_000;
/** WAL messages held unacked per shard before a seal is forced; below the consumer's max_ack_pending. */
export const PENDING_ACKS_MAX = 20_000;
/** The consumer's max_ack_pending: JetStream stops delivering past it. */
export const CONSUMER_MAX_ACK_PENDING = 25_000;
/**
 * WAL messages a shard's pull consumer has outstanding. All shards share one NATS
 * connection, and nats-server cuts a client off as a slow consumer once 64 MiB (its
 * default max_pending) wait to be read: 16 shards x 8 x ~0.25 MB batches stay far below.
 */
export const CONSUME_MESSAGES_MAX = 8;
/** Redelivery timer of the WAL consumer; seals must finish well inside it. */
export const CONSUMER_ACK_WAIT_MS = 30_000;
/** Concurrent queries one shard runs; more are answered busy (the gateway says 503). */
export const SHARD_QUERY_CONCURRENCY = 4;
/**
 * Mailbox of a partition actor, in WAL messages (up to ~0.3 MB each). Handling one is
 * synchronous, so a few in hand keep the actor busy; 64 let 16 shards hold ~300 MB of
 * payloads on top of the consumers' own CONSUME_MESSAGES_MAX.
 */
export const PARTITION_MAILBOX_CAPACITY = 16;
/** Longest serialized row DuckDB's NDJSON reader accepts: a 256 KiB line escaped can grow ~6x. */
export const FLUSH_OBJECT_BYTES_MAX = 16 * 1024 * 1024;
/** Compaction merges a shard's small segments once it has this many. */
export const COMPACTION_MIN_SEGMENTS = 16;
/** A segment with at least this many rows is left alone by compaction. */
export const COMPACTION_SEGMENT_ROWS_TARGET = 2_000_000;

if (PENDING_ACKS_MAX >= CONSUMER_MAX_ACK_PENDING) throw new Error("storage limits: forced seal must come before the consumer stalls");
if (FLUSH_ROWS_TRIGGER >= PENDING_ROWS_MAX) throw new Error("storage limits: flush trigger above the pending bound");
