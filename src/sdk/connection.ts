// The logger's way to NATS: use the caller's connection or open its own (reconnecting
// forever, waiting for a first server if none is up yet), learn the WAL's shard count
// from the stream (waiting for a node to create it), listen for flow signals, and
// build the shipper's target. Until this is done the logger buffers; nothing a
// service logs is lost to a slow start of NATS or of the node.

import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { WAL_STREAM } from "../protocol/subjects.ts";
import { NATS_DEFAULT_MAX_PAYLOAD_BYTES, PAYLOAD_HEADROOM_BYTES, roundRobin } from "../ingest/wal-publisher.ts";
import { FlowGate } from "./flow-gate.ts";
import { walShardCount } from "./producer.ts";
import { LOGGER_RETRY_BACKOFF_MIN_MS, LOGGER_SETUP_RETRY_MAX_MS } from "./limits.ts";
import { LoggerError, type ParsedLoggerOptions } from "./options.ts";
import type { PublishFunction, ShipTarget } from "./shipper.ts";

export interface Connected {
  nc: NatsConnection;
  /** Whether the logger opened it (and so closes it). */
  owned: boolean;
  target: ShipTarget;
}

export interface ConnectHooks {
  /** Wraps JetStream's publish (tests lose acks with it). */
  wrapPublish?: (publish: PublishFunction) => PublishFunction;
}

/** Resolves after `ms`, or at once when `signal` aborts or already has (so a closed logger holds no timer); logctl sleeps with it too. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done);
  });
}

/** Calls `attempt` until it succeeds or `stop` aborts, reporting each failure and backing off up to LOGGER_SETUP_RETRY_MAX_MS. */
async function untilDone<T>(attempt: () => Promise<T>, stop: AbortSignal, report: (error: unknown) => void): Promise<T | undefined> {
  let delay = LOGGER_RETRY_BACKOFF_MIN_MS;
  while (!stop.aborted) {
    try {
      return await attempt();
    } catch (error) {
      if (stop.aborted) break;
      report(error);
      await pause(delay, stop);
      delay = Math.min(LOGGER_SETUP_RETRY_MAX_MS, delay * 2);
    }
  }
  return undefined;
}

async function openConnection(options: ParsedLoggerOptions, stop: AbortSignal): Promise<{ nc: NatsConnection; owned: boolean } | undefined> {
  if (options.nc) return { nc: options.nc, owned: false };
  // One attempt per call, retried here: a pending waitOnFirstConnect could not be called off by close().
  const nc = await untilDone(
    () => connect({ name: "sluice-logger", maxReconnectAttempts: -1, ...options.natsOptions, servers: options.servers }),
    stop,
    (error) => options.onError(new LoggerError("connect_failed", `cannot connect to ${String(options.servers)}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })),
  );
  return nc ? { nc, owned: true } : undefined;
}

async function shardCount(nc: NatsConnection, options: ParsedLoggerOptions, stop: AbortSignal): Promise<number | undefined> {
  if (options.shards !== undefined) return options.shards;
  let reported = false;
  return untilDone(
    async () => {
      const shards = await walShardCount(nc);
      if (shards < 1) throw new Error(`the stream ${WAL_STREAM} has no shard subjects`);
      return shards;
    },
    stop,
    (error) => {
      // Said once: a logger started before its node waits quietly for the stream.
      if (reported) return;
      reported = true;
      options.onError(new LoggerError("no_stream", `the WAL stream ${WAL_STREAM} is not there yet (is a Sluice node running on this NATS server?); buffering until it is: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
    },
  );
}

/** Connects and learns the shard count; undefined if the logger closed (`stop` aborted) first. */
export async function connectLogger(options: ParsedLoggerOptions, stop: AbortSignal, hooks: ConnectHooks = {}): Promise<Connected | undefined> {
  const opened = await openConnection(options, stop);
  if (!opened) return undefined;
  const { nc, owned } = opened;
  const shards = await shardCount(nc, options, stop);
  if (shards === undefined || stop.aborted) {
    // The logger closed first: a connection opened meanwhile is closed again.
    if (owned) await nc.close();
    return undefined;
  }
  const js = jetstream(nc);
  const publish: PublishFunction = (subject, payload, publishOptions) => js.publish(subject, payload, publishOptions);
  const maxPayload = nc.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD_BYTES;
  const target: ShipTarget = {
    publish: hooks.wrapPublish?.(publish) ?? publish,
    nextShard: roundRobin(shards),
    payloadBytesMax: Math.max(1024, maxPayload - PAYLOAD_HEADROOM_BYTES),
    gate: options.flowControl ? FlowGate.listen(nc) : undefined,
    usable: () => !nc.isClosed(),
  };
  return { nc, owned, target };
}
