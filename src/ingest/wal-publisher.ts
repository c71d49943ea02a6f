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
/** Bytes reserved below max_payload for subject, headers (message id, format, encoding) and framing; the SDK's logger keeps the same. */
export const PAYLOAD_HEADROOM_BYTES = 16 * 1024;
/** NATS's default max_payload, assumed while a connection has not said its server's. */
export const NATS_DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024;

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

/** One WAL message payload and the events it carries. */
export interface EncodedBatch {
  payload: Uint8Array;
  count: number;
}

/**
 * Encodes events as payloads of at most `payloadBytesMax` bytes each, in order. A
 * slice that encodes larger, or that `encode` refuses with null (over a WAL batch
 * limit), is halved until its parts fit. A single event that is larger still goes
 * alone: its publish fails, not the batch around it. Each part is one message with
 * one message id, so it can be retried as a whole.
 */
export function splitEncoded(events: readonly NormalizedEvent[], payloadBytesMax: number, encode: (slice: readonly NormalizedEvent[]) => Uint8Array | null): EncodedBatch[] {
  const out: EncodedBatch[] = [];
  const take = (slice: readonly NormalizedEvent[]): void => {
    if (slice.length === 0) return;
    const payload = encode(slice);
    if (payload !== null && (payload.byteLength <= payloadBytesMax || slice.length === 1)) {
      out.push({ payload, count: slice.length });
      return;
    }
    const middle = slice.length >>> 1;
    take(slice.slice(0, middle));
    take(slice.slice(middle));
  };
  take(events);
  return out;
}

/**
 * A FlatBuffers batch of `events`, or null when it passes a WAL batch limit and can
 * be split. The encoder stops as soon as the batch passes the limit, so a slice too
 * large costs no more than the limit. A single event over a limit throws.
 */
export function encodeBatchUnlessOverLimit(events: readonly NormalizedEvent[]): Uint8Array | null {
  try {
    return encodeBatch(events);
  } catch (error) {
    if (error instanceof WalBatchEncodeError && error.code === "over_limit" && events.length > 1) return null;
    throw error;
  }
}

/** Splits events into FlatBuffers batches under the byte budget, at most WAL_BATCH_EVENTS_TARGET events each. */
function encodeBatches(events: readonly NormalizedEvent[], maxPayloadBytes: number): EncodedBatch[] {
  const budget = Math.min(WAL_BATCH_BYTES_MAX, maxPayloadBytes - PAYLOAD_HEADROOM_BYTES);
  const step = Math.min(WAL_BATCH_EVENTS_TARGET, WAL_BATCH_EVENTS_MAX);
  const out: EncodedBatch[] = [];
  for (let start = 0; start < events.length; start += step) out.push(...splitEncoded(events.slice(start, start + step), budget, encodeBatchUnlessOverLimit));
  return out;
}

/**
 * Publishes every batch concurrently. With `messageIdPrefix`, each batch carries a
 * JetStream message id so a retry of the same request is deduplicated by the server.
 */
export async function publishEvents(target: PublishTarget, events: readonly NormalizedEvent[], messageIdPrefix?: string): Promise<PublishOutcome> {
  const batches = encodeBatches(events, target.maxPayloadBytes);
  const results = await Promise.allSettled(
    batches.map((batch, index) =>
      target.js.publish(walSubject(target.tenant, target.nextShard()), batch.payload, {
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
