// A load-generator thread of the ingest comparison (started by load.ts). On "prepare"
// it makes its share of the event pool and encodes it for one system, connects, and
// answers "prepared"; on "run" it sends from the agreed start time until the phase's
// bounds are met (at least minSeconds and eventsTarget, at most maxSeconds), at full
// speed or on a rate schedule, reports its counters and ack latencies every
// STATS_INTERVAL_MS, and answers "done" once everything sent is acked or given up.
// The measuring (probes, windows, RSS) stays on the main thread, whose event loop this
// thread's busy loop cannot delay.
//
// Bounds: the SDK path uses the SDK's own buffer (its defaults) with the "block" policy
// and --sdk-inflight batches in flight; every other path keeps at most its --*-inflight
// requests outstanding, one per lane, and retries a refused one for at most
// RETRY_WINDOW_MS.

import { parentPort } from "node:worker_threads";
import { SluiceLogger } from "sluice/sdk";
import { insertJsonEachRow } from "../clickhouse/server.ts";
import { PgConnection } from "../postgres/wire.ts";
import { emptyCounters, type FromWorker, type LoadCounters, type LoadTarget, type PrepareCommand, type RunCommand, type ToWorker } from "./load-messages.ts";
import { clickhouseLine, encodeUnits, httpLine, makePoolSlice, POSTGRES_COPY_COLUMNS, postgresLine, sdkRecord, stampUnit, type PoolSlice, type Unit } from "./pool.ts";

/** How often counters and latencies go to the main thread. */
const STATS_INTERVAL_MS = 500;
/** Events the SDK loop logs between two yields to the event loop (which lets the SDK's shipper publish and acks arrive). */
const SDK_EVENTS_PER_YIELD = 500;
/** Longest a refused or failed request is retried, counted from its first attempt (past it the unit is counted as failed). */
const RETRY_WINDOW_MS = 60_000;
/** Pause before retrying when the server names none (ClickHouse, a dropped connection). */
const RETRY_PAUSE_MS = 1_000;
/** Longest the SDK logger may take to connect and find the WAL stream. */
const SDK_READY_TIMEOUT_MS = 30_000;

const port = parentPort!;
const post = (message: FromWorker) => port.postMessage(message);

/** One system's client: runs phases, reports counters. */
interface Sender {
  run(command: RunCommand, counters: LoadCounters, ackMs: number[]): Promise<void>;
  close(): Promise<void>;
}

/** Whether a phase is over for a thread that has sent `sent` events. */
function phaseOver(command: RunCommand, sent: number): boolean {
  const elapsedMs = Date.now() - command.startAtMs;
  return elapsedMs >= command.maxSeconds * 1000 || (elapsedMs >= command.minSeconds * 1000 && sent >= command.eventsTarget);
}

/** Sleeps until the rate schedule allows the next `scheduled` events (none at full speed). */
async function waitForSchedule(command: RunCommand, scheduled: number): Promise<void> {
  if (command.rate <= 0) return;
  const waitMs = command.startAtMs + (scheduled / command.rate) * 1000 - Date.now();
  if (waitMs >= 1) await Bun.sleep(waitMs);
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

// ---- Sluice over NATS through the SDK logger ----

async function sdkSender(target: Extract<LoadTarget, { system: "sdk-flatbuffers" | "sdk-ndjson" }>, slice: PoolSlice, poolEvents: number): Promise<Sender> {
  const records = slice.events.map(sdkRecord);
  const indices = slice.indices;
  let phaseAckMs: number[] = [];
  let lastAckAtMs = 0;
  const logger = new SluiceLogger(
    {
      servers: target.natsUrl,
      format: target.system === "sdk-ndjson" ? "ndjson" : "flatbuffers",
      fullPolicy: "block",
      inFlightBatchesMax: target.inFlightBatchesMax,
      flushOnExit: false,
      onError: (error) => console.error(`[load ${target.system}] ${error.code}: ${error.message}`),
    },
    {
      // The ack latency of each publish, from the call to JetStream's PubAck.
      wrapPublish: (publish) => async (subject, payload, options) => {
        const started = performance.now();
        const ack = await publish(subject, payload, options);
        phaseAckMs.push(performance.now() - started);
        lastAckAtMs = Date.now();
        return ack;
      },
    },
  );
  const ready = await Promise.race([logger.ready, Bun.sleep(SDK_READY_TIMEOUT_MS).then(() => false)]);
  if (!ready) throw new Error(`the SDK logger did not connect to ${target.natsUrl} within ${SDK_READY_TIMEOUT_MS / 1000} s`);
  return {
    async run(command, counters, ackMs) {
      phaseAckMs = ackMs;
      let cursor = 0;
      let passStartUs = command.startAtMs * 1000;
      const base = logger.stats();
      const sync = () => {
        const stats = logger.stats();
        counters.acked = stats.acked - base.acked;
        counters.failed = stats.failedEvents - base.failedEvents;
        counters.retries = stats.retries - base.retries;
        counters.refused = stats.refused - base.refused;
        counters.dropped = stats.dropped - base.dropped;
        counters.lastAckAtMs = lastAckAtMs;
      };
      const syncTimer = setInterval(sync, STATS_INTERVAL_MS / 2);
      while (!phaseOver(command, counters.sent)) {
        await waitForSchedule(command, counters.sent);
        for (let logged = 0; logged < SDK_EVENTS_PER_YIELD; logged++) {
          const record = records[cursor];
          record.timestamp = passStartUs + indices[cursor];
          if (++cursor === records.length) {
            cursor = 0;
            passStartUs += poolEvents;
          }
          // Under "block", log() hands a record back when the buffer is full; logAsync waits for room (false: dropped, counted).
          if (!logger.log(record)) await logger.logAsync(record);
        }
        counters.sent += SDK_EVENTS_PER_YIELD;
        await yieldToLoop();
      }
      await logger.flush();
      clearInterval(syncTimer);
      sync();
      phaseAckMs = [];
    },
    async close() {
      await logger.close();
    },
  };
}

// ---- pre-encoded units: HTTP bodies, ClickHouse INSERTs, PostgreSQL COPYs ----

/** Sends one unit on lane `lane`; resolves with the events acked (0 when given up), recording the acked attempt's latency. */
type SendUnit = (unit: Unit, lane: number, key: string, counters: LoadCounters, ackMs: number[]) => Promise<number>;

/**
 * Lanes that each send one unit at a time, cycling through the units in order and
 * stamping each with its pass's event times as it is claimed. A unit is stamped in
 * place, so there must be more units than lanes: no unit is claimed again while in flight.
 */
function unitSender(units: Unit[], inFlight: number, poolEvents: number, sendUnit: SendUnit, close: () => Promise<void>): Sender {
  if (units.length <= inFlight) throw new Error(`${units.length} units of the pool for ${inFlight} lanes: raise --pool-events or lower the batch size, so that no unit is in flight twice`);
  return {
    async run(command, counters, ackMs) {
      let claimed = 0;
      const lanes = Array.from({ length: inFlight }, async (_, lane) => {
        while (!phaseOver(command, counters.sent)) {
          const sequence = claimed++;
          const unit = units[sequence % units.length];
          stampUnit(unit, command.startAtMs * 1000 + Math.floor(sequence / units.length) * poolEvents);
          // The schedule counts events as they are claimed, so lanes share one timeline.
          const scheduled = counters.sent;
          counters.sent += unit.events;
          await waitForSchedule(command, scheduled);
          const acked = await sendUnit(unit, lane, `${command.phaseId}-${sequence}`, counters, ackMs);
          counters.acked += acked;
          if (acked > 0) counters.lastAckAtMs = Date.now();
          counters.failed += unit.events - acked;
        }
      });
      await Promise.all(lanes);
    },
    close,
  };
}

/** Retries `attempt` while it returns a pause (ms) and the retry window is open; resolves with its events acked. */
async function withRetries(counters: LoadCounters, what: string, attempt: () => Promise<{ acked: number } | { retryAfterMs: number; why: string }>): Promise<number> {
  const firstMs = Date.now();
  for (;;) {
    const outcome = await attempt();
    if ("acked" in outcome) return outcome.acked;
    if (Date.now() + outcome.retryAfterMs - firstMs > RETRY_WINDOW_MS) {
      console.error(`[load] ${what} given up after ${RETRY_WINDOW_MS / 1000} s of retries: ${outcome.why}`);
      return 0;
    }
    counters.retries++;
    await Bun.sleep(outcome.retryAfterMs);
  }
}

function httpSender(target: Extract<LoadTarget, { system: "http" }>, slice: PoolSlice, poolEvents: number): Sender {
  const units = encodeUnits(slice, target.eventsPerBody, httpLine, "epoch-us");
  const url = `${target.httpUrl}/api/v1/logs`;
  const headers: Record<string, string> = { authorization: `Bearer ${target.apiKey}`, "content-type": "application/x-ndjson", ...(target.gzip ? { "content-encoding": "gzip" } : {}) };
  const reported = new Set<number>();
  const send: SendUnit = (unit, _lane, key, counters, ackMs) =>
    withRetries(counters, `POST of ${unit.events} events`, async () => {
      // Compressing is the client's work, so it is done here, on the load generator, per send.
      const body = target.gzip ? Bun.gzipSync(unit.bytes, { level: 1 }) : unit.bytes;
      const started = performance.now();
      let response: Response;
      try {
        response = await fetch(url, { method: "POST", body, headers: { ...headers, "idempotency-key": key } });
      } catch (error) {
        return { retryAfterMs: RETRY_PAUSE_MS, why: String(error) };
      }
      const text = await response.text();
      if (response.ok) {
        ackMs.push(performance.now() - started);
        return { acked: Number(JSON.parse(text).accepted ?? 0) };
      }
      if (response.status === 429 || response.status === 503) {
        const seconds = Number(response.headers.get("retry-after"));
        return { retryAfterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : RETRY_PAUSE_MS, why: `${response.status} ${text.slice(0, 200)}` };
      }
      if (!reported.has(response.status)) {
        reported.add(response.status);
        console.error(`[load http] ${response.status}: ${text.slice(0, 300)}`);
      }
      return { acked: 0 };
    });
  return unitSender(units, target.inFlight, poolEvents, send, async () => {});
}

function clickhouseSender(target: Extract<LoadTarget, { system: "clickhouse" }>, slice: PoolSlice, poolEvents: number): Sender {
  let reportedClickHouse = false;
  const units = encodeUnits(slice, target.rowsPerInsert, clickhouseLine, "epoch-us");
  const send: SendUnit = (unit, _lane, _key, counters, ackMs) =>
    withRetries(counters, `INSERT of ${unit.events} rows`, async () => {
      const started = performance.now();
      try {
        await insertJsonEachRow(target.httpUrl, unit.bytes);
      } catch (error) {
        const why = String(error).slice(0, 300);
        // "Too many parts", memory pressure and dropped connections pass once merges catch up: retried, counted.
        if (/too many parts|memory limit|timeout|timed out|ECONNRESET|socket|connection/i.test(why) || !why.includes("ClickHouse ")) return { retryAfterMs: RETRY_PAUSE_MS, why };
        if (!reportedClickHouse) console.error(`[load clickhouse] INSERT failed: ${why}`);
        reportedClickHouse = true;
        return { acked: 0 };
      }
      ackMs.push(performance.now() - started);
      return { acked: unit.events };
    });
  return unitSender(units, target.inFlight, poolEvents, send, async () => {});
}

async function postgresSender(target: Extract<LoadTarget, { system: "postgres" }>, slice: PoolSlice, poolEvents: number): Promise<Sender> {
  const units = encodeUnits(slice, target.rowsPerCopy, postgresLine, "copy-text");
  const connections = await Promise.all(Array.from({ length: target.inFlight }, () => PgConnection.connect({ host: target.host, port: target.port, user: "postgres", database: "postgres" })));
  const copy = `COPY logs (${POSTGRES_COPY_COLUMNS.join(", ")}) FROM STDIN`;
  const send: SendUnit = async (unit, lane, _key, _counters, ackMs) => {
    const started = performance.now();
    try {
      const result = await connections[lane].copyIn(copy, unit.bytes);
      ackMs.push(performance.now() - started);
      return Number(result.command.split(" ")[1]);
    } catch (error) {
      console.error(`[load postgres] COPY of ${unit.events} rows failed: ${error}`);
      return 0;
    }
  };
  return unitSender(units, target.inFlight, poolEvents, send, async () => {
    await Promise.all(connections.map((connection) => connection.close()));
  });
}

// ---- the thread's loop ----

let sender: Sender | undefined;

async function prepare(command: PrepareCommand): Promise<void> {
  const started = performance.now();
  const slice = makePoolSlice(command);
  const target = command.target;
  switch (target.system) {
    case "sdk-flatbuffers":
    case "sdk-ndjson":
      sender = await sdkSender(target, slice, command.poolEvents);
      break;
    case "http":
      sender = httpSender(target, slice, command.poolEvents);
      break;
    case "clickhouse":
      sender = clickhouseSender(target, slice, command.poolEvents);
      break;
    case "postgres":
      sender = await postgresSender(target, slice, command.poolEvents);
  }
  post({ type: "prepared", events: slice.events.length, seconds: Math.round((performance.now() - started) / 100) / 10 });
}

async function run(command: RunCommand): Promise<void> {
  if (!sender) throw new Error("run before prepare");
  const counters = emptyCounters();
  const ackMs: number[] = [];
  const report = () => {
    const taken = ackMs.splice(0);
    post({ type: "stats", counters: { ...counters }, ackMs: taken });
  };
  const timer = setInterval(report, STATS_INTERVAL_MS);
  const waitMs = command.startAtMs - Date.now();
  if (waitMs > 0) await Bun.sleep(waitMs);
  try {
    await sender.run(command, counters, ackMs);
  } finally {
    clearInterval(timer);
  }
  post({ type: "done", counters: { ...counters }, ackMs: ackMs.splice(0) });
}

port.on("message", (message: ToWorker) => {
  const work = message.type === "prepare" ? prepare(message) : message.type === "run" ? run(message) : (sender?.close() ?? Promise.resolve()).then(() => post({ type: "closed" }));
  work.catch((error: unknown) => post({ type: "error", message: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
});
