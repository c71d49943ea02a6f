// Messages between the ingest comparison's main thread (load.ts) and its load-generator
// threads (load-worker.ts), and the systems they drive. Types only, plus the names and
// the counters' zero.

/** The systems of the comparison, in the order they run. */
export const SYSTEMS = ["clickhouse", "sdk-flatbuffers", "sdk-ndjson", "http", "postgres"] as const;
export type SystemName = (typeof SYSTEMS)[number];

/** How each system is named in the report. */
export const SYSTEM_LABELS: Readonly<Record<SystemName, string>> = {
  "sdk-flatbuffers": "Sluice NATS SDK FlatBuffers",
  "sdk-ndjson": "Sluice NATS SDK NDJSON",
  http: "Sluice HTTP NDJSON",
  clickhouse: "ClickHouse HTTP JSONEachRow",
  postgres: "PostgreSQL COPY",
};

export const isSluice = (system: SystemName): boolean => system === "sdk-flatbuffers" || system === "sdk-ndjson" || system === "http";

/** Where a load generator sends, and its bounds (each named on the command line). */
export type LoadTarget =
  | { system: "sdk-flatbuffers" | "sdk-ndjson"; natsUrl: string; inFlightBatchesMax: number }
  | { system: "http"; httpUrl: string; apiKey: string; eventsPerBody: number; inFlight: number; gzip: boolean }
  | { system: "clickhouse"; httpUrl: string; rowsPerInsert: number; inFlight: number }
  | { system: "postgres"; host: string; port: number; rowsPerCopy: number; inFlight: number };

export interface PrepareCommand {
  type: "prepare";
  target: LoadTarget;
  poolEvents: number;
  seed: number;
  worker: number;
  workers: number;
}

export interface RunCommand {
  type: "run";
  /** Names the phase (unique per run): HTTP idempotency keys start with it. */
  phaseId: string;
  /** Date.now() at which every thread sends its first byte; event times start here too (see pool.ts). */
  startAtMs: number;
  /** Send for at least this long ... */
  minSeconds: number;
  /** ... and until this thread sent this many events (0: by time alone) ... */
  eventsTarget: number;
  /** ... but never longer than this. */
  maxSeconds: number;
  /** This thread's share of the rate cap, events/s; 0 = as fast as acks come back. */
  rate: number;
}

export type ToWorker = PrepareCommand | RunCommand | { type: "exit" };

/** A load generator's counters for the current phase, events unless named otherwise. */
export interface LoadCounters {
  /** Handed to the client (logged into the SDK, put into a body / INSERT / COPY sent). */
  sent: number;
  acked: number;
  /** Given up (a failed batch, a refused request past its retry window). */
  failed: number;
  /** Attempts after the first: SDK publish retries, HTTP 429/503 answers honoured, INSERTs retried. */
  retries: number;
  /** SDK: log() found the buffer full and handed the event back (then logAsync waited for room). */
  refused: number;
  /** SDK: events dropped (must stay 0 under the "block" policy). */
  dropped: number;
  /** Date.now() of the latest ack. */
  lastAckAtMs: number;
}

export const emptyCounters = (): LoadCounters => ({ sent: 0, acked: 0, failed: 0, retries: 0, refused: 0, dropped: 0, lastAckAtMs: 0 });

export type FromWorker =
  | { type: "prepared"; events: number; seconds: number }
  | { type: "stats"; counters: LoadCounters; ackMs: number[] }
  | { type: "done"; counters: LoadCounters; ackMs: number[] }
  | { type: "closed" }
  | { type: "error"; message: string };
