// The event: the one record shape every layer agrees on (DESIGN.md, "The event").

/** Severity levels, ordered from least to most severe. */
export const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"] as const;
export type Level = (typeof LEVELS)[number];

/** Level used when an event names none and none can be recognized in its text. */
export const DEFAULT_LEVEL: Level = "INFO";

/**
 * An event after validation and normalization, before the WAL assigns its identity.
 * This is what ingest gateways and producer helpers put on the wire.
 */
export interface NormalizedEvent {
  /** Event time, microseconds since the Unix epoch (UTC); 0 when unknown (ingest time is used). */
  timestampUs: number;
  level: Level;
  service: string;
  hostname: string;
  traceId: string;
  spanId: string;
  message: string;
  /** JSON object text; "{}" when there is none. Unknown top-level fields land here. */
  metadata: string;
}

/**
 * An event as stored: a NormalizedEvent plus what Sluice assigns from the WAL.
 * `id` is derived from the JetStream message (its stored time, stream sequence and
 * the event's index in the message), so a replay yields the same id.
 */
export interface StoredEvent {
  id: string;
  /** Event time in microseconds (ingest time when the event carried none). */
  timestampUs: number;
  /** Time JetStream stored the message, microseconds. */
  ingestTs: number;
  tenant: string;
  level: Level;
  service: string;
  hostname: string;
  traceId: string;
  spanId: string;
  message: string;
  metadata: string;
  /** Stream sequence of the WAL message that carried the event. */
  seq: number;
}
