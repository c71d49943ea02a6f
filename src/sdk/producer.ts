// A TypeScript producer helper for services: normalizes records with the same rules
// as the HTTP gateway, encodes them as FlatBuffers WAL batches, spreads batches over
// the shards round-robin (no central router, and one dominant service still reaches
// every shard), waits while a node asks producers to pause (flow-gate.ts), and
// resolves with JetStream's acks. For a service's logs, the buffered non-blocking
// logger (logger.ts, `createLogger`) is built on the same pieces.
//
//   import { connect } from "@nats-io/transport-node";
//   import { createProducer } from "sluice/src/sdk/producer.ts";
//   const producer = await createProducer({ nc: await connect({ servers: "nats://127.0.0.1:4222" }) });
//   await producer.send([{ level: "info", service: "api", message: "hello" }]);

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { NormalizedEvent } from "../protocol/event.ts";
import { DEFAULT_TENANT, isValidTenant, WAL_STREAM } from "../protocol/subjects.ts";
import { normalizeRecord } from "../ingest/normalize.ts";
import { NATS_DEFAULT_MAX_PAYLOAD_BYTES, publishEvents, roundRobin, type PublishOutcome, type PublishTarget } from "../ingest/wal-publisher.ts";
import { FlowGate } from "./flow-gate.ts";

export interface ProducerOptions {
  nc: NatsConnection;
  /** Tenant named in the subject; a single node accepts any valid tenant name. */
  tenant?: string;
  /** Shard count; read from the WAL stream when omitted. */
  shards?: number;
  publishTimeoutMs?: number;
  /**
   * Wait while a node asks producers to pause (it fell behind; src/protocol/flow.ts).
   * Default true: a producer that ignores it fills the WAL until publishes are refused.
   */
  flowControl?: boolean;
  /** Longest a send waits for a pause to lift before it fails with code "flow_paused". */
  flowWaitMaxMs?: number;
}

/** Default bound on how long a send waits out a node's pause. */
const PRODUCER_FLOW_WAIT_MAX_MS = 60_000;

export interface SendResult {
  accepted: number;
  rejected: { index: number; error: string }[];
}

export class ProducerError extends Error {
  constructor(
    readonly code: "bad_tenant" | "no_stream" | "publish_failed" | "flow_paused",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export class Producer {
  constructor(
    /** Where and how every send publishes (one round-robin across sends). */
    private readonly target: PublishTarget,
    readonly shards: number,
    private readonly gate?: FlowGate,
    private readonly flowWaitMaxMs = PRODUCER_FLOW_WAIT_MAX_MS,
  ) {}

  get tenant(): string {
    return this.target.tenant;
  }

  /** Stops listening for flow signals. The NATS connection stays the caller's. */
  close(): void {
    this.gate?.close();
  }

  /** Normalizes and publishes records; invalid ones are returned, valid ones are acked before this resolves. */
  async send(records: readonly unknown[], messageIdPrefix?: string): Promise<SendResult> {
    const events: NormalizedEvent[] = [];
    const rejected: SendResult["rejected"] = [];
    records.forEach((record, index) => {
      const result = normalizeRecord(record);
      if (result.ok) events.push(result.event);
      else rejected.push({ index, error: result.error });
    });
    if (events.length === 0) return { accepted: 0, rejected };
    const outcome = await this.sendEvents(events, messageIdPrefix);
    if (outcome.failed > 0) throw new ProducerError("publish_failed", `${outcome.failed} event(s) were not acknowledged (${outcome.accepted} were)`, { cause: outcome.error });
    return { accepted: outcome.accepted, rejected };
  }

  /** Publishes already-normalized events (the fast path for generators and the benchmark). */
  async sendEvents(events: readonly NormalizedEvent[], messageIdPrefix?: string): Promise<PublishOutcome> {
    if (this.gate) {
      try {
        await this.gate.wait(this.flowWaitMaxMs);
      } catch (error) {
        throw new ProducerError("flow_paused", error instanceof Error ? error.message : String(error), { cause: error });
      }
    }
    return publishEvents(this.target, events, messageIdPrefix);
  }
}

/** The WAL's shard count as its stream says (one subject per shard); throws when the stream is not there. */
export async function walShardCount(nc: NatsConnection): Promise<number> {
  const info = await (await jetstreamManager(nc)).streams.info(WAL_STREAM);
  return info.config.subjects?.length ?? 0;
}

export async function createProducer(options: ProducerOptions): Promise<Producer> {
  const tenant = options.tenant ?? DEFAULT_TENANT;
  if (!isValidTenant(tenant)) throw new ProducerError("bad_tenant", `tenant ${JSON.stringify(tenant)} must match [A-Za-z0-9_-]{1,64}`);
  let shards = options.shards;
  if (shards === undefined) {
    try {
      shards = await walShardCount(options.nc);
    } catch (error) {
      throw new ProducerError("no_stream", `the WAL stream ${WAL_STREAM} is not there: is a Sluice node running on this NATS server?`, { cause: error });
    }
  }
  const gate = options.flowControl === false ? undefined : FlowGate.listen(options.nc);
  const target: PublishTarget = { js: jetstream(options.nc), tenant, maxPayloadBytes: options.nc.info?.max_payload ?? NATS_DEFAULT_MAX_PAYLOAD_BYTES, publishTimeoutMs: options.publishTimeoutMs ?? 10_000, nextShard: roundRobin(shards) };
  return new Producer(target, shards, gate, options.flowWaitMaxMs);
}
