// Ingest-to-searchable probes of the ingest comparison, on the main thread: every
// --probe-interval-ms one event with a unique trace id goes through the system's own
// interface, on its own, beside the load (Sluice over NATS: a second SDK logger on the
// probe tenant that sends each probe at once; Sluice over HTTP: a one-line POST with the
// probe tenant's key; ClickHouse: a one-row INSERT into the same table; PostgreSQL: a
// one-row INSERT), and the system is asked every POLL_INTERVAL_MS for the probes not
// found yet. A probe's latency runs from its hand-off to the first answer that holds it.

import { SluiceLogger } from "sluice/sdk";
import type { NormalizedEvent } from "../../src/protocol/event.ts";
import { formatTimestampUs } from "../../src/ingest/timestamp.ts";
import { ndjsonLine } from "../../src/sdk/batch-encoder.ts";
import { getJson } from "../bench-lib.ts";
import { clickhouseQuery, insertJsonEachRow, sqlString } from "../clickhouse/server.ts";
import type { PgConnection } from "../postgres/wire.ts";
import { pgString } from "../postgres/wire.ts";
import { clickhouseLine } from "./pool.ts";

/** How often the system is asked for the probes still missing. */
const POLL_INTERVAL_MS = 50;
/** Probes whose hand-off has not returned yet, at most; past it a probe is skipped (counted). */
const PROBES_IN_FLIGHT_MAX = 16;
/** The service probes are logged under (a tenant of their own in Sluice, a service in the shared table elsewhere). */
export const PROBE_SERVICE = "bench-probe";
/** Longest wait for the probes still missing once a phase's load has stopped. */
const PROBE_DRAIN_MS = 30_000;
/** Send and poll failures printed per phase; later ones are only counted (a stopped server would print one per poll). */
const ERRORS_LOGGED_MAX = 3;
/** Longest a refused probe (HTTP 429/503) is retried. */
const PROBE_RETRY_WINDOW_MS = 30_000;
/** Longest one poll may take before it counts as failed and is asked again. */
const POLL_TIMEOUT_MS = 10_000;

/** How one system takes a probe and tells which probes it can find. */
export interface ProbeChannel {
  /** Hands one probe event to the system; resolves once the system acked it. */
  send(traceId: string, timestampUs: number): Promise<void>;
  /** Trace ids of the probes the system returns for event times from `fromUs` on. */
  poll(fromUs: number): Promise<string[]>;
  close(): Promise<void>;
}

/** A probe found: when it was handed off (Date.now()) and after how long it was found (ms). */
export interface ProbeSample {
  sentAtMs: number;
  latencyMs: number;
}

interface ProbeStats {
  sent: number;
  found: number;
  failed: number;
  pollFailures: number;
  skipped: number;
  missing: number;
  samples: ProbeSample[];
}

/** Sends probes and polls for them until stopped; stop() waits (bounded) for the ones still missing. */
export class ProbeRunner {
  private readonly pending = new Map<string, number>();
  private readonly stats: ProbeStats = { sent: 0, found: 0, failed: 0, pollFailures: 0, skipped: 0, missing: 0, samples: [] };
  private inFlight = 0;
  private counter = 0;
  private sending = true;
  private readonly sendTimer: ReturnType<typeof setInterval>;
  private readonly poller: Promise<void>;
  private pollDeadlineMs = Number.POSITIVE_INFINITY;

  constructor(
    private readonly channel: ProbeChannel,
    private readonly label: string,
    intervalMs: number,
  ) {
    this.sendTimer = setInterval(() => this.sendOne(), intervalMs);
    this.poller = this.poll();
  }

  private sendOne(): void {
    if (!this.sending) return;
    if (this.inFlight >= PROBES_IN_FLIGHT_MAX) {
      this.stats.skipped++;
      return;
    }
    const traceId = `probe-${this.label}-${++this.counter}`;
    const sentAtMs = performance.timeOrigin + performance.now();
    this.inFlight++;
    this.stats.sent++;
    this.channel.send(traceId, Math.floor(sentAtMs * 1000)).then(
      () => {
        this.inFlight--;
        this.pending.set(traceId, sentAtMs);
      },
      (error) => {
        this.inFlight--;
        if (this.stats.failed++ < ERRORS_LOGGED_MAX) console.error(`probe send failed (${this.label}): ${error}${this.stats.failed === ERRORS_LOGGED_MAX ? " (further failures are only counted)" : ""}`);
      },
    );
  }

  private async poll(): Promise<void> {
    while (this.sending || ((this.pending.size > 0 || this.inFlight > 0) && Date.now() < this.pollDeadlineMs)) {
      if (this.pending.size > 0) {
        const oldestMs = Math.min(...this.pending.values());
        try {
          const found = await Promise.race([this.channel.poll(Math.floor(oldestMs * 1000) - 1_000_000), Bun.sleep(POLL_TIMEOUT_MS).then(() => Promise.reject(new Error(`no answer within ${POLL_TIMEOUT_MS} ms`)))]);
          const nowMs = performance.timeOrigin + performance.now();
          for (const traceId of found) {
            const sentAtMs = this.pending.get(traceId);
            if (sentAtMs === undefined) continue;
            this.pending.delete(traceId);
            this.stats.found++;
            this.stats.samples.push({ sentAtMs, latencyMs: nowMs - sentAtMs });
          }
        } catch (error) {
          if (this.stats.pollFailures++ < ERRORS_LOGGED_MAX) console.error(`probe poll failed (${this.label}): ${error}${this.stats.pollFailures === ERRORS_LOGGED_MAX ? " (further failures are only counted)" : ""}`);
        }
      }
      await Bun.sleep(POLL_INTERVAL_MS);
    }
  }

  /** Stops sending, waits up to PROBE_DRAIN_MS for the probes still missing, and returns the stats. */
  async stop(): Promise<ProbeStats> {
    this.sending = false;
    clearInterval(this.sendTimer);
    this.pollDeadlineMs = Date.now() + PROBE_DRAIN_MS;
    await this.poller;
    this.stats.missing = this.pending.size + this.inFlight;
    return this.stats;
  }

  /** Stops at once (a failed phase): no more sends, and the poller ends after its current poll. */
  abort(): void {
    this.sending = false;
    clearInterval(this.sendTimer);
    this.pollDeadlineMs = 0;
  }
}

// ---- channels ----

/** A probe as the load's events are (the fields HTTP ingest takes; no span, no metadata). */
function probeEvent(traceId: string, timestampUs: number): NormalizedEvent {
  return { timestampUs, level: "INFO", service: PROBE_SERVICE, hostname: "bench", traceId, spanId: "", message: "probe", metadata: "{}" };
}

/** Sluice's search API for the probe tenant, newest first from `fromUs`. */
async function searchProbes(httpUrl: string, apiKey: string, fromUs: number): Promise<string[]> {
  const body = await getJson(httpUrl, `/api/v1/logs/search?limit=1000&service=${PROBE_SERVICE}&from=${fromUs}&fields=trace_id`, apiKey);
  return ((body.logs ?? []) as { trace_id: string }[]).map((log) => log.trace_id);
}

/** Sluice over NATS: a logger of its own (same format, probe tenant) that sends each probe at once (no batch age). */
export async function sdkProbeChannel(options: { natsUrl: string; httpUrl: string; apiKey: string; tenant: string; format: "flatbuffers" | "ndjson" }): Promise<ProbeChannel> {
  const logger = new SluiceLogger({ servers: options.natsUrl, tenant: options.tenant, format: options.format, batchAgeMs: 0, flushOnExit: false });
  if (!(await logger.ready)) throw new Error(`the probe logger could not connect to ${options.natsUrl}`);
  return {
    async send(traceId, timestampUs) {
      if (!logger.log({ timestamp: timestampUs, level: "INFO", service: PROBE_SERVICE, hostname: "bench", trace_id: traceId, message: "probe" })) throw new Error(`the probe logger refused ${traceId}: ${JSON.stringify(logger.stats())}`);
    },
    poll: (fromUs) => searchProbes(options.httpUrl, options.apiKey, fromUs),
    async close() {
      await logger.close();
    },
  };
}

/**
 * Sluice over HTTP: one NDJSON line per POST with the probe tenant's key. A 429 or 503
 * is waited out (its Retry-After) and sent again, as the load's clients do, for at most
 * PROBE_RETRY_WINDOW_MS: the probe's latency, counted from the first attempt, includes it.
 */
export function httpProbeChannel(options: { httpUrl: string; apiKey: string }): ProbeChannel {
  return {
    async send(traceId, timestampUs) {
      const body = ndjsonLine(probeEvent(traceId, timestampUs));
      const firstMs = Date.now();
      for (;;) {
        const response = await fetch(`${options.httpUrl}/api/v1/logs`, { method: "POST", headers: { authorization: `Bearer ${options.apiKey}`, "content-type": "application/x-ndjson", "idempotency-key": traceId }, body });
        const text = await response.text();
        if (response.ok) return;
        const retryAfterMs = Number(response.headers.get("retry-after")) * 1000 || 1000;
        if ((response.status !== 429 && response.status !== 503) || Date.now() + retryAfterMs - firstMs > PROBE_RETRY_WINDOW_MS) throw new Error(`POST ${response.status}: ${text.slice(0, 300)}`);
        await Bun.sleep(retryAfterMs);
      }
    },
    poll: (fromUs) => searchProbes(options.httpUrl, options.apiKey, fromUs),
    async close() {},
  };
}

/** ClickHouse: a one-row INSERT into the load's table; found by service (the sort key's first column) and time. */
export function clickhouseProbeChannel(httpUrl: string): ProbeChannel {
  return {
    async send(traceId, timestampUs) {
      const line = clickhouseLine(probeEvent(traceId, timestampUs));
      await insertJsonEachRow(httpUrl, `${line.head}${timestampUs}${line.tail}`);
    },
    async poll(fromUs) {
      const rows = await clickhouseQuery(httpUrl, `SELECT trace_id FROM logs WHERE service = ${sqlString(PROBE_SERVICE)} AND timestamp_us >= ${fromUs} FORMAT TabSeparated`);
      return rows.split("\n").filter(Boolean);
    },
    async close() {},
  };
}

/** PostgreSQL: a one-row INSERT on a connection of its own; found through the (service, timestamp) index on another. */
export function postgresProbeChannel(inserter: PgConnection, reader: PgConnection): ProbeChannel {
  return {
    async send(traceId, timestampUs) {
      await inserter.query(`INSERT INTO logs (timestamp, level, service, hostname, trace_id, span_id, message, metadata) VALUES (${pgString(formatTimestampUs(timestampUs))}, 'INFO', ${pgString(PROBE_SERVICE)}, 'bench', ${pgString(traceId)}, '', 'probe', '{}')`);
    },
    async poll(fromUs) {
      const result = await reader.query(`SELECT trace_id FROM logs WHERE service = ${pgString(PROBE_SERVICE)} AND timestamp >= ${pgString(formatTimestampUs(fromUs))}`);
      return result.rows.map((row) => row[0] ?? "");
    },
    async close() {
      await Promise.all([inserter.close(), reader.close()]);
    },
  };
}
