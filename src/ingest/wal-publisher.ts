// Publishes normalized events to the WAL: splits them into FlatBuffers batches that
// fit the server's max payload, spreads batches over shards round-robin (so one
// dominant service still lands on every shard), and resolves only with JetStream's acks.

import type { JetStreamClient } from "@nats-io/jetstream";
import type { NormalizedEvent } from "../protocol/event.ts";
import { WAL_BATCH_BYTES_MAX, WAL_BATCH_EVENTS_MAX } from "../protocol/limits.ts";
import { walSubject } from "../protocol/subjects.ts";
import { encodeBatch, WalBatchEncodeError } from "../protocol/wal-batch.ts";

/** Events per batch a publisher aims for: ~2000 events of ~230 B is ~0.5 MB, well inside limits. */
const WAL_BATCH_EVENTS_TARGET = 2000;
/** Bytes reserved below max_payload for subject, headers and framing. */
const PAYLOAD_HEADROOM_BYTES = 16 * 1024;

export interface PublishTarget {
  js: JetStreamClient;
  tenant: string;
  /** The server's max_payload. */
  maxPayloadBytes: number;
  publishTimeoutMs: number;
  /** Chooses the next shard; round-robin by default. */
  nextShard: () => number;
}

export interface PublishOutcome {
  accepted: number;
  failed: number;
  /** The first failure, if any; later ones are usually the same cause. */
  error?: unknown;
}

/** Shards in turn, from a random one (so nodes and producers started together do not all begin on shard 0). */
export function roundRobin(shards: number): () => number {
  let next = Math.floor(Math.random() * shards);
  return () => {
    const shard = next % shards;
    next = (next + 1) % shards;
    return shard;
  };
}

/** Splits events into encoded batches under the byte budget (halving a batch that encodes too large). */
function encodeBatches(events: readonly NormalizedEvent[], maxPayloadBytes: number): { bytes: Uint8Array; count: number }[] {
  const budget = Math.min(WAL_BATCH_BYTES_MAX, maxPayloadBytes - PAYLOAD_HEADROOM_BYTES);
  const out: { bytes: Uint8Array; count: number }[] = [];
  const take = (slice: readonly NormalizedEvent[]): void => {
    // The encoder stops as soon as a slice passes the batch limit: that slice is halved like one over the budget.
    const bytes = slice.length === 1 ? encodeBatch(slice) : encodeUnlessOverLimit(slice);
    if (bytes !== null && (bytes.byteLength <= budget || slice.length === 1)) {
      out.push({ bytes, count: slice.length });
      return;
    }
    const middle = slice.length >>> 1;
    take(slice.slice(0, middle));
    take(slice.slice(middle));
  };
  const step = Math.min(WAL_BATCH_EVENTS_TARGET, WAL_BATCH_EVENTS_MAX);
  for (let start = 0; start < events.length; start += step) take(events.slice(start, start + step));
  return out;
}

function encodeUnlessOverLimit(events: readonly NormalizedEvent[]): Uint8Array | null {
  try {
    return encodeBatch(events);
  } catch (error) {
    if (error instanceof WalBatchEncodeError && error.code === "over_limit") return null;
    throw error;
  }
}

/**
 * Publishes every batch concurrently. With `messageIdPrefix`, each batch carries a
 * JetStream message id so a retry of the same request is deduplicated by the server.
 */
export async function publishEvents(target: PublishTarget, events: readonly NormalizedEvent[], messageIdPrefix?: string): Promise<PublishOutcome> {
  const batches = encodeBatches(events, target.maxPayloadBytes);
  const results = await Promise.allSettled(
    batches.map((batch, index) =>
      target.js.publish(walSubject(target.tenant, target.nextShard()), batch.bytes, {
        timeout: target.publishTimeoutMs,
        ...(messageIdPrefix ? { msgID: `${messageIdPrefix}:${index}` } : {}),
      }),
    ),
  );
  const outcome: PublishOutcome = { accepted: 0, failed: 0 };
  results.forEach((result, index) => {
    if (result.status === "fulfilled") {
      // A duplicate ack means an earlier attempt stored this batch: it is accepted all the same.
      outcome.accepted += batches[index].count;
    } else {
      outcome.failed += batches[index].count;
      outcome.error ??= result.reason;
    }
  });
  return outcome;
}
