// Helpers shared by the benchmarks in scripts/: latency histograms, real Loghub lines
// for generated events, WAL publishing that honours the node's flow signal and a full
// WAL, a node's JSON API, and a wait for background work to go quiet; and, from
// scripts/bench-lib/, process figures from /proc (proc.ts) and the benchmarks' child
// processes (children.ts: cleanup of every child on exit, signals and errors, servers
// with their output in a log file, a Sluice node with its own nats-server child).
// bench-ingest.ts, bench-query, bench-compare and bench-cluster.ts import from here;
// bench-ingest.ts runs on import, so nothing imports it. Nothing here runs on import.

import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import hdr from "hdr-histogram-js";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { FlowGate } from "../src/sdk/flow-gate.ts";

export { Children, freePort, sqlFileStatements, startServerChild, startSluiceNode, type ServerChild, type ServerChildOptions, type SluiceNode, type SluiceNodeOptions } from "./bench-lib/children.ts";
export { cpuDelta, cpuSeconds, cpuSnapshot, directoryBytes, readStat, rssBytes, RssSampler, threadCpuDelta, threadCpuSeconds, type RssSamplerOptions } from "./bench-lib/proc.ts";

const ROOT = resolve(import.meta.dir, "..");

// ---- latency ----

/** A histogram of microseconds, 1 µs to 1 h at 3 significant digits. */
export const histogram = () => hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
export type Histogram = ReturnType<typeof histogram>;

/** Latency percentiles and maximum, ms, and how many values they are of. */
export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  count: number;
}

/** Percentiles of a histogram of microseconds, in milliseconds. */
export function percentiles(h: Histogram): Percentiles {
  const ms = (us: number) => Math.round(us / 10) / 100;
  return { p50: ms(h.getValueAtPercentile(50)), p99: ms(h.getValueAtPercentile(99)), p999: ms(h.getValueAtPercentile(99.9)), max: ms(h.maxValue), count: h.totalCount };
}

/** Records milliseconds (from performance.now() differences) into a histogram of microseconds. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.round(ms * 1000)));
}

// ---- events ----

/** Lines taken from each Loghub sample: enough variety, and the same messages every run. */
const LOGHUB_LINES_PER_FILE = 300;

/** Real log lines for generated events: the first LOGHUB_LINES_PER_FILE lines of each Loghub sample (tests/fixtures/loghub). */
export function loghubMessages(): string[] {
  const loghubDir = join(ROOT, "tests/fixtures/loghub");
  return readdirSync(loghubDir)
    .filter((name) => name.endsWith(".log"))
    .flatMap((name) => readFileSync(join(loghubDir, name), "utf8").split("\n").filter(Boolean).slice(0, LOGHUB_LINES_PER_FILE));
}

// ---- publishing ----

/** Pause before a lane resends a batch the full WAL refused. */
const WAL_FULL_RETRY_MS = 10;

export interface PublishCounters {
  ackedEvents: number;
  refusedPublishes: number;
  failedPublishes: number;
}

/**
 * Publishes one WAL batch the way a well-behaved producer does: waits while the node
 * asks producers to pause (before every attempt, when given a gate), and resends after
 * a short pause when the full WAL refuses it. Gives up (counting a failure) on any
 * other error, or on a refusal at or past `opts.retryUntil` (Date.now(); default: never).
 * `opts.onAck` gets the ack's latency, ms, from the send of the attempt that was acked.
 */
export async function publishBatch(js: JetStreamClient, gate: FlowGate | undefined, subject: string, payload: Uint8Array, events: number, counters: PublishCounters, opts: { onAck?: (ms: number) => void; retryUntil?: number } = {}): Promise<void> {
  for (;;) {
    if (gate && !gate.isOpen) await gate.wait();
    const sentAt = performance.now();
    try {
      await js.publish(subject, payload, { timeout: 30_000 });
      opts.onAck?.(performance.now() - sentAt);
      counters.ackedEvents += events;
      return;
    } catch (error) {
      if (!/maximum bytes|resources|limit/i.test(String(error)) || (opts.retryUntil !== undefined && Date.now() >= opts.retryUntil)) {
        counters.failedPublishes++;
        console.error(`publish failed: ${error}`);
        return;
      }
      counters.refusedPublishes++;
      await Bun.sleep(WAL_FULL_RETRY_MS);
    }
  }
}

/** Longest wait for a node's answer to getJson (a count or health request), ms. */
const GET_JSON_TIMEOUT_MS = 60_000;

/** `GET` a JSON API path of a node (as `apiKey`'s tenant, when given); throws on a non-2xx answer with its body. */
export async function getJson(baseUrl: string, path: string, apiKey?: string): Promise<Record<string, any>> {
  const headers = apiKey === undefined ? undefined : { authorization: `Bearer ${apiKey}` };
  const response = await fetch(`${baseUrl}${path}`, { headers, signal: AbortSignal.timeout(GET_JSON_TIMEOUT_MS) });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Sum of the counts of an aggregate answer's `buckets` (the API answers them always). */
export function bucketTotal(buckets: readonly { count: number }[]): number {
  return buckets.reduce((sum, bucket) => sum + bucket.count, 0);
}

/** Storage work (seals, compactions, …) a node's health report counts as running or waiting. */
export function storageWorkPending(health: Record<string, any>): number {
  const queue = health.storage_utilization?.work_queue ?? {};
  return (queue.running ?? 0) + Object.values((queue.waiting ?? {}) as Record<string, number>).reduce((sum, count) => sum + count, 0);
}

// ---- background work ----

/** Pause between polls while waiting for background work to end. */
const SETTLE_POLL_MS = 1000;

/**
 * Polls `poll` every SETTLE_POLL_MS until it says idle twice in a row or `maxSeconds`
 * pass; returns how long that took (s), whether it went quiet, and the last state read.
 */
export async function settleUntilQuiet(maxSeconds: number, poll: () => Promise<{ idle: boolean; state: Record<string, unknown> }>): Promise<Record<string, unknown>> {
  const started = performance.now();
  let quietPolls = 0;
  let state: Record<string, unknown> = {};
  while ((performance.now() - started) / 1000 < maxSeconds) {
    const reading = await poll();
    state = reading.state;
    quietPolls = reading.idle ? quietPolls + 1 : 0;
    if (quietPolls >= 2) break;
    await Bun.sleep(SETTLE_POLL_MS);
  }
  return { seconds: Math.round((performance.now() - started) / 100) / 10, quiet: quietPolls >= 2, ...state };
}
