// Bounds of the storage path, with why. Relationships are checked at load.

import { PAGE_BYTES_MAX } from "./parquet-writer.ts";

/**
 * Rows waiting in JS for the next memtable flush, per shard, before the WAL consumer
 * stops pulling. Each row is ~0.3 KB of columns and a shard keeps two row buffers that
 * grow to the largest flush: 200k rows let 16 shards hold ~2.5 GB when the node fell
 * behind; 60k (~20 MB a buffer) is still two flush triggers' worth.
 */
export const PENDING_ROWS_MAX = 60_000;
/** The same bound in bytes (rows of long messages reach it first): the consumer stops pulling past it. */
export const PENDING_BYTES_MAX = 64 * 1024 * 1024;
/** Flush early once this many bytes of rows wait, so one part stays a few MB. */
export const FLUSH_BYTES_TRIGGER = 16 * 1024 * 1024;
/**
 * A shard stops pulling WAL messages once it holds this many times its seal row
 * threshold unsealed (one memtable being written to a segment, the next filling
 * meanwhile): the memory bound while seals are slower than intake.
 */
export const UNSEALED_ROWS_SEAL_MULTIPLE = 2;
/** Flush to the memtable early once this many rows wait, so one flush stays a few MB. */
export const FLUSH_ROWS_TRIGGER = 25_000;
/**
 * A memtable's last parts, each one flush, are joined into one file once there are
 * this many. DuckDB spends ~0.2 ms on each file a statement reads, whatever its rows:
 * under live ingest (a flush every 100 ms a shard, a seal every ~5 s) a query of the
 * recent rows read ~50 part files a shard. Joined by eights, ~10.
 */
export const MEMTABLE_JOIN_PARTS = 8;
/** Most bytes of parts one join copies (on the event loop, like a flush): parts of larger flushes are few and stay apart. */
export const MEMTABLE_JOIN_BYTES_MAX = 4 * 1024 * 1024;
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
/**
 * A memtable seals when its oldest row is sealAgeMs x (1 - up to this fraction) old.
 * Shards that start together would otherwise seal together every time, and 16 seals
 * at once queue every flush and query behind them (the ingest benchmark's
 * searchable-latency spikes came in step with the seal age).
 */
export const SEAL_AGE_JITTER_FRACTION = 0.25;
/**
 * Storage work items (seal, compaction) running at once, node-wide. DuckDB statements
 * run on Bun's worker pool, which the node sizes to these plus QUERY_POOL_THREADS
 * (node/worker-pool.ts); two writers keep both cores busy under load.
 */
export const STORAGE_WORK_CONCURRENCY = 2;
/**
 * Worker pool threads for query statements beside the storage work: enough that a
 * query's shard statements never wait behind seals, few enough that the event loop
 * (ingest, the gateway's merges) is not crowded off the cores: with 16, a count the
 * counters answered took 216 ms at p50 under live ingest, against 74 ms with 2.
 */
export const QUERY_POOL_THREADS = 6;
/**
 * Rows per Parquet row group of a segment: the unit a skip index (and DuckDB's
 * file_row_number pruning) reads or skips. A trace id or a rare word costs one row
 * group per hit, so smaller groups read fewer rows: on a 2M-row bench segment, 16k
 * instead of 123k made the file 4% larger and its skip index 36%, and cut the rows a
 * hit costs 7.5x. DuckDB cuts groups at whole 2,048-row vectors.
 */
export const SEGMENT_ROW_GROUP_ROWS = 16_384;
/**
 * Rows of a shard whose ordering and stream columns stay in memory (recent-rows.ts,
 * ~33 bytes a row: ~5 MB a shard, ~86 MB for 16): its memtables' and its newest
 * sealed segments'. At 100k events/s over 16 shards that is the last ~25 s, past the
 * 15 s a broad search first asks for (query/limits.ts FIRST_WINDOW_US).
 */
export const RECENT_ROWS_MAX = 163_840;
/** Compaction merges a shard's small segments once it has this many. */
export const COMPACTION_MIN_SEGMENTS = 16;
/**
 * A shard that has sealed nothing for this long merges its small segments even below
 * COMPACTION_MIN_SEGMENTS (two are enough): compaction otherwise runs only after a seal,
 * so the up to 15 small segments a burst of ingest leaves behind stayed for good, and
 * every query and every reopen paid for each file (bench:query's store reached 437).
 */
export const COMPACTION_IDLE_AFTER_MS = 60_000;

/** A segment with at least this many rows is left alone by compaction. */
export const COMPACTION_SEGMENT_ROWS_TARGET = 2_000_000;

/**
 * Smallest skip index, in bits: a segment of a few rows still gets a filter whose
 * false-positive rate stays low, and one 32-byte bucket costs nothing.
 */
export const SKIP_INDEX_BITS_MIN = 256;
/**
 * Largest skip index of one segment, in bytes (mapped while the segment lives): 64 MiB
 * holds ~22M distinct keys at 24 bits each, far past a compacted segment's
 * COMPACTION_SEGMENT_ROWS_TARGET rows; a segment needing more goes without an index and
 * is always read.
 */
export const SKIP_INDEX_BYTES_MAX = 64 * 1024 * 1024;
/**
 * (minute, series), (10 minutes, series) and (hour, series) counters one shard keeps
 * for exact counts, a series being (tenant, service, level). An entry costs 12 bytes (a
 * Uint32 id and a Float64 count), so 2M entries are ~24 MB a shard: 24 h of 500 series
 * take ~0.8M (1,440 minutes, 144 ten-minutes and 24 hours), leaving room for late and
 * back-filled events. Past it the counts are dropped and dashboards scan instead
 * (MinuteCounts.overflowed).
 */
export const MINUTE_COUNT_ENTRIES_MAX = 2_000_000;

if (PENDING_ACKS_MAX >= CONSUMER_MAX_ACK_PENDING) throw new Error("storage limits: forced seal must come before the consumer stalls");
if (FLUSH_ROWS_TRIGGER >= PENDING_ROWS_MAX) throw new Error("storage limits: flush trigger above the pending bound");
if (FLUSH_BYTES_TRIGGER >= PENDING_BYTES_MAX) throw new Error("storage limits: flush byte trigger above the pending byte bound");
// A joined column must stay one page (joinedParquetFileParts), and a join must join something.
if (MEMTABLE_JOIN_PARTS < 2 || MEMTABLE_JOIN_BYTES_MAX >= PAGE_BYTES_MAX) throw new Error("storage limits: memtable joins of fewer than two parts or past a Parquet page");
/**
 * Rows whose skip keys (listed as rows are written, row-skip-keys.ts) are kept as one
 * deduplicated set; a row group takes the union of the sets its rows fall in, so each
 * set it only partly holds (at the edges of each run of a message's rows in it) lends
 * it up to this many other rows' keys.
 */
export const SKIP_KEY_CHUNK_ROWS = 1024;
/** Distinct keys one chunk may hold; past it the buffer's keys are given up (its seal lists them in DuckDB). */
export const SKIP_KEY_CHUNK_KEYS_MAX = 1 << 18;
/** Bytes of listed keys one memtable may hold (8 a key); past it they are given up (its seal lists them in DuckDB). */
export const MEMTABLE_SKIP_KEYS_BYTES_MAX = 64 * 1024 * 1024;

if (SKIP_INDEX_BITS_MIN % 256 !== 0 || SKIP_INDEX_BITS_MIN / 8 > SKIP_INDEX_BYTES_MAX) throw new Error("storage limits: the skip index minimum must be whole 256-bit buckets below the maximum");
if (SKIP_KEY_CHUNK_ROWS > SEGMENT_ROW_GROUP_ROWS) throw new Error("storage limits: a skip key chunk must not be larger than a row group");
