// The logger's options: what a caller may pass to createLogger, and the one parser that
// turns it into a frozen, complete configuration (named defaults from limits.ts,
// numbers clamped to their documented ranges, conflicting options refused).

import { hostname as osHostname } from "node:os";
import type { ConnectionOptions, NatsConnection } from "@nats-io/transport-node";
import { DEFAULT_TENANT, isValidTenant } from "../protocol/subjects.ts";
import { INGEST_LABEL_CHARS_MAX } from "../ingest/limits.ts";
import {
  LOGGER_BATCH_AGE_MS_DEFAULT,
  LOGGER_BATCH_AGE_MS_MAX,
  LOGGER_BATCH_BYTES_DEFAULT,
  LOGGER_BATCH_BYTES_MAX,
  LOGGER_BATCH_EVENTS_DEFAULT,
  LOGGER_BLOCK_TIMEOUT_MS_DEFAULT,
  LOGGER_BUFFER_BYTES_DEFAULT,
  LOGGER_BUFFER_BYTES_MAX,
  LOGGER_BUFFER_EVENTS_DEFAULT,
  LOGGER_BUFFER_EVENTS_MAX,
  LOGGER_CLOSE_TIMEOUT_MS_DEFAULT,
  LOGGER_CLOSE_TIMEOUT_MS_MAX,
  LOGGER_FLOW_WAIT_MAX_MS,
  LOGGER_IN_FLIGHT_BATCHES_DEFAULT,
  LOGGER_IN_FLIGHT_BATCHES_MAX,
  LOGGER_PUBLISH_TIMEOUT_MS_DEFAULT,
  LOGGER_PUBLISH_TIMEOUT_MS_MAX,
  LOGGER_RETRY_WINDOW_MS_DEFAULT,
  LOGGER_RETRY_WINDOW_MS_MAX,
} from "./limits.ts";
import { WAL_BATCH_EVENTS_MAX } from "../protocol/limits.ts";
import { WAL_ENCODINGS, type WalEncoding } from "../protocol/wal-compression.ts";

/** What log() does when the buffer is full: drop the new event (counted), or make logAsync() wait for room. */
export type FullBufferPolicy = "drop" | "block";
/** Payload of each WAL message: a FlatBuffers batch (the node's fastest path) or NDJSON. */
export type WireFormat = "flatbuffers" | "ndjson";
export type Compression = "none" | WalEncoding;

/** An operating failure the logger reports through onError (it never throws them at log()). */
export class LoggerError extends Error {
  constructor(
    readonly code: "bad_option" | "connect_failed" | "no_stream" | "batch_failed" | "batch_abandoned",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface LoggerOptions {
  /** A connection to use; it stays the caller's (close() leaves it open). Give this or `servers`. */
  nc?: NatsConnection;
  /** NATS server URL(s) for a connection the logger opens, reconnects forever, and closes on close(). */
  servers?: string | string[];
  /** More options for that connection (credentials, TLS, name); `servers` is set from above. */
  natsOptions?: Omit<ConnectionOptions, "servers">;
  /** Tenant named in the WAL subject (with API keys on, the tenant's NATS credentials decide). Default "default". */
  tenant?: string;
  /** Service of every event that names none. */
  service?: string;
  /** Hostname of every event that names none. Default: this machine's hostname. */
  hostname?: string;
  /** WAL shard count; read from the WAL stream when omitted. */
  shards?: number;
  /** Default "flatbuffers". */
  format?: WireFormat;
  /** Default "none". */
  compression?: Compression;
  bufferEventsMax?: number;
  bufferBytesMax?: number;
  batchEventsMax?: number;
  batchBytesMax?: number;
  batchAgeMs?: number;
  inFlightBatchesMax?: number;
  publishTimeoutMs?: number;
  retryWindowMs?: number;
  /** Default "drop". */
  fullPolicy?: FullBufferPolicy;
  /** With "block": how long logAsync() waits for room before the event is dropped. */
  blockTimeoutMs?: number;
  /** Honour the nodes' pause signals (src/protocol/flow.ts). Default true. */
  flowControl?: boolean;
  /** Longest the logger holds batches for a pause before it publishes anyway. */
  flowWaitMaxMs?: number;
  /** Flush on SIGTERM, SIGINT and beforeExit, then let the process exit as it would have. Default true. */
  flushOnExit?: boolean;
  /** Longest close() waits for the buffer to drain. */
  closeTimeoutMs?: number;
  /** Prefix of every batch's JetStream message id; random by default, so ids never collide across processes. */
  producerId?: string;
  /** Told of operating failures (a batch given up, no connection yet). Default: one line on stderr. */
  onError?: (error: LoggerError) => void;
}

export interface ParsedLoggerOptions {
  readonly nc?: NatsConnection;
  readonly servers?: string | string[];
  readonly natsOptions: Omit<ConnectionOptions, "servers">;
  readonly tenant: string;
  readonly service: string;
  readonly hostname: string;
  readonly shards?: number;
  readonly format: WireFormat;
  readonly compression: Compression;
  readonly bufferEventsMax: number;
  readonly bufferBytesMax: number;
  readonly batchEventsMax: number;
  readonly batchBytesMax: number;
  readonly batchAgeMs: number;
  readonly inFlightBatchesMax: number;
  readonly publishTimeoutMs: number;
  readonly retryWindowMs: number;
  readonly fullPolicy: FullBufferPolicy;
  readonly blockTimeoutMs: number;
  readonly flowControl: boolean;
  readonly flowWaitMaxMs: number;
  readonly flushOnExit: boolean;
  readonly closeTimeoutMs: number;
  readonly producerId: string;
  readonly onError: (error: LoggerError) => void;
}

/** Producer ids go into message ids and must stay short and plain. */
const PRODUCER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

function refuse(message: string): never {
  throw new LoggerError("bad_option", message);
}

/** An integer option clamped to [min, max]; anything but a finite number is refused. */
function clamped(name: string, value: number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value)) refuse(`${name} must be a finite number, got ${JSON.stringify(value)}`);
  return Math.min(max, Math.max(min, Math.floor(value)));
}

function oneOf<T extends string>(name: string, value: T | undefined, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value)) refuse(`${name} must be one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  return value;
}

function label(name: string, value: string | undefined, fallback: string): string {
  const result = value ?? fallback;
  if (typeof result !== "string" || result.length > INGEST_LABEL_CHARS_MAX) refuse(`${name} must be a string of at most ${INGEST_LABEL_CHARS_MAX} characters`);
  return result;
}

function defaultOnError(error: LoggerError): void {
  console.error(`[sluice-logger] ${error.code}: ${error.message}`);
}

export function parseLoggerOptions(options: LoggerOptions): ParsedLoggerOptions {
  if ((options.nc === undefined) === (options.servers === undefined)) refuse("give exactly one of nc (a connection) and servers (URLs to connect to)");
  const tenant = options.tenant ?? DEFAULT_TENANT;
  if (!isValidTenant(tenant)) refuse(`tenant ${JSON.stringify(tenant)} must match [A-Za-z0-9_-]{1,64}`);
  const producerId = options.producerId ?? crypto.randomUUID().replaceAll("-", "");
  if (!PRODUCER_ID_PATTERN.test(producerId)) refuse(`producerId ${JSON.stringify(producerId)} must match ${PRODUCER_ID_PATTERN.source}`);
  if (options.shards !== undefined && (!Number.isInteger(options.shards) || options.shards < 1)) refuse(`shards must be a positive integer, got ${options.shards}`);

  const bufferEventsMax = clamped("bufferEventsMax", options.bufferEventsMax, LOGGER_BUFFER_EVENTS_DEFAULT, 1, LOGGER_BUFFER_EVENTS_MAX);
  const bufferBytesMax = clamped("bufferBytesMax", options.bufferBytesMax, LOGGER_BUFFER_BYTES_DEFAULT, 1024, LOGGER_BUFFER_BYTES_MAX);
  const batchEventsMax = clamped("batchEventsMax", options.batchEventsMax, Math.min(LOGGER_BATCH_EVENTS_DEFAULT, bufferEventsMax), 1, WAL_BATCH_EVENTS_MAX);
  const batchBytesMax = clamped("batchBytesMax", options.batchBytesMax, Math.min(LOGGER_BATCH_BYTES_DEFAULT, bufferBytesMax), 1024, LOGGER_BATCH_BYTES_MAX);
  // A batch larger than the buffer could never fill by count or size: say so rather than wait on age alone.
  if (batchEventsMax > bufferEventsMax) refuse(`batchEventsMax ${batchEventsMax} is over bufferEventsMax ${bufferEventsMax}`);
  if (batchBytesMax > bufferBytesMax) refuse(`batchBytesMax ${batchBytesMax} is over bufferBytesMax ${bufferBytesMax}`);

  return Object.freeze({
    nc: options.nc,
    servers: options.servers,
    natsOptions: options.natsOptions ?? {},
    tenant,
    service: label("service", options.service, ""),
    hostname: label("hostname", options.hostname, osHostname()),
    shards: options.shards,
    format: oneOf<WireFormat>("format", options.format, ["flatbuffers", "ndjson"], "flatbuffers"),
    compression: oneOf<Compression>("compression", options.compression, ["none", ...WAL_ENCODINGS], "none"),
    bufferEventsMax,
    bufferBytesMax,
    batchEventsMax,
    batchBytesMax,
    batchAgeMs: clamped("batchAgeMs", options.batchAgeMs, LOGGER_BATCH_AGE_MS_DEFAULT, 0, LOGGER_BATCH_AGE_MS_MAX),
    inFlightBatchesMax: clamped("inFlightBatchesMax", options.inFlightBatchesMax, LOGGER_IN_FLIGHT_BATCHES_DEFAULT, 1, LOGGER_IN_FLIGHT_BATCHES_MAX),
    publishTimeoutMs: clamped("publishTimeoutMs", options.publishTimeoutMs, LOGGER_PUBLISH_TIMEOUT_MS_DEFAULT, 100, LOGGER_PUBLISH_TIMEOUT_MS_MAX),
    retryWindowMs: clamped("retryWindowMs", options.retryWindowMs, LOGGER_RETRY_WINDOW_MS_DEFAULT, 0, LOGGER_RETRY_WINDOW_MS_MAX),
    fullPolicy: oneOf<FullBufferPolicy>("fullPolicy", options.fullPolicy, ["drop", "block"], "drop"),
    blockTimeoutMs: clamped("blockTimeoutMs", options.blockTimeoutMs, LOGGER_BLOCK_TIMEOUT_MS_DEFAULT, 0, LOGGER_CLOSE_TIMEOUT_MS_MAX),
    flowControl: options.flowControl ?? true,
    flowWaitMaxMs: clamped("flowWaitMaxMs", options.flowWaitMaxMs, LOGGER_FLOW_WAIT_MAX_MS, 0, LOGGER_FLOW_WAIT_MAX_MS),
    flushOnExit: options.flushOnExit ?? true,
    closeTimeoutMs: clamped("closeTimeoutMs", options.closeTimeoutMs, LOGGER_CLOSE_TIMEOUT_MS_DEFAULT, 0, LOGGER_CLOSE_TIMEOUT_MS_MAX),
    producerId,
    onError: options.onError ?? defaultOnError,
  });
}
