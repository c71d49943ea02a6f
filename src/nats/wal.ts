// The WAL stream: one JetStream stream, one subject per shard, limits retention with
// no age limit (an unconsumed message never expires), discard-new at the byte bound so
// a full WAL refuses publishes instead of losing data. Acked messages are removed by
// the WalTrimmer, which purges everything below the lowest shard ack floor at once.
//
// Why not work-queue retention: there every ack deletes its message inside blocks
// shared by all shards, and nats-server 2.9 then stalls publishes while it rewrites
// them. Measured on this machine at 250 batches/s: publish-ack p99 2.6 ms with no
// consumer, 58 ms with acks held ~5 s then sent (our seal-then-ack pattern), 23 ms
// with limits retention and a purge below the lowest ack floor every 2 s.

import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { WAL_DUPLICATE_WINDOW_MS } from "../protocol/limits.ts";
import { WAL_STREAM, walStreamSubjects } from "../protocol/subjects.ts";
import { ConfigError } from "../node/config.ts";

export interface WalOptions {
  shards: number;
  maxBytes: number;
  replicas: number;
  maxMessageBytes: number;
}

function walStreamConfig(options: WalOptions): Partial<StreamConfig> & { name: string } {
  return {
    name: WAL_STREAM,
    subjects: walStreamSubjects(options.shards),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.New,
    max_bytes: options.maxBytes,
    max_msg_size: options.maxMessageBytes,
    duplicate_window: WAL_DUPLICATE_WINDOW_MS * 1_000_000,
    num_replicas: options.replicas,
  };
}

/**
 * JetStream refuses a stream whose max_bytes its store cannot hold ("insufficient
 * storage resources available": by default it may use 75% of the free disk of its
 * store directory): said as what to change. Other errors pass through.
 */
function storageError(error: unknown, maxBytes: number): unknown {
  if (!/insufficient storage/i.test(String((error as Error)?.message))) return error;
  const gib = (maxBytes / 1024 ** 3).toFixed(1);
  return new ConfigError(`JetStream cannot reserve ${gib} GiB for the WAL stream ${WAL_STREAM} (--wal-max-bytes, SLUICE_WAL_MAX_BYTES): its store has less room than that (by default 75% of the free disk under its directory); free disk space or lower --wal-max-bytes`);
}

/** Creates the WAL stream, or checks and updates the one that exists. */
export async function ensureWalStream(jsm: JetStreamManager, options: WalOptions): Promise<void> {
  const wanted = walStreamConfig(options);
  let existing;
  try {
    existing = await jsm.streams.info(WAL_STREAM);
  } catch (error) {
    if (!/not found/i.test(String((error as Error).message))) throw error;
    await jsm.streams.add(wanted).catch((added) => {
      throw storageError(added, options.maxBytes);
    });
    return;
  }
  if (existing.config.retention !== wanted.retention) {
    throw new ConfigError(`the WAL stream ${WAL_STREAM} has ${existing.config.retention} retention; this version needs ${wanted.retention}: drain it and delete the stream (or use a new data directory)`);
  }
  const subjects = existing.config.subjects ?? [];
  if (subjects.length !== options.shards) {
    throw new ConfigError(
      `the WAL stream ${WAL_STREAM} has ${subjects.length} shards but this node is configured for ${options.shards}; resharding is not supported: set SLUICE_SHARDS=${subjects.length} or use a new data directory / NATS server`,
    );
  }
  if (existing.config.max_bytes !== wanted.max_bytes || existing.config.max_msg_size !== wanted.max_msg_size) {
    await jsm.streams.update(WAL_STREAM, { ...existing.config, max_bytes: wanted.max_bytes, max_msg_size: wanted.max_msg_size }).catch((updated) => {
      throw storageError(updated, options.maxBytes);
    });
  }
}
