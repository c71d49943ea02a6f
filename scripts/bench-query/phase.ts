// A measured phase: live ingest into some systems, a warm-up, then every query kind in
// turn on the queried ones, one query at a time, each latency (to the last byte of the
// answer) into an hdr histogram per (system, query) and every answer checked.

import { cpuDelta, cpuSnapshot, histogram, percentiles, recordMs, type Histogram, type RssSampler, type SluiceNode } from "../bench-lib.ts";
import type { ClickHouseServer } from "../clickhouse/server.ts";
import type { DatasetSummary } from "../gen-dataset.ts";
import { startLive, type LiveStats } from "./live.ts";
import type { BenchOptions } from "./options.ts";
import { clickhouseAnswer, HOUR_US, sluiceAnswer, type Answer, type QueryContext, type QueryKind } from "./queries.ts";

export interface SystemStats {
  latency: Histogram;
  runs: number;
  failures: number;
  wrong: number;
  /** The first few distinct problems (failures and wrong answers). */
  problems: string[];
  /** Rows or totals per run, for comparing the systems. */
  results: number[];
  /** The SLOWEST_KEPT slowest answers and when they ended: stalls that hit every query kind at once show as the same moment. */
  slowest: { at: string; ms: number }[];
}

const SLOWEST_KEPT = 5;

export const newSystemStats = (): SystemStats => ({ latency: histogram(), runs: 0, failures: 0, wrong: 0, problems: [], results: [], slowest: [] });

function noteSlow(stats: SystemStats, ms: number): void {
  if (stats.slowest.length === SLOWEST_KEPT && ms <= stats.slowest[SLOWEST_KEPT - 1].ms) return;
  stats.slowest.push({ at: new Date().toISOString(), ms: Math.round(ms) });
  stats.slowest.sort((a, b) => b.ms - a.ms);
  stats.slowest.length = Math.min(stats.slowest.length, SLOWEST_KEPT);
}

function noteProblem(stats: SystemStats, problem: string): void {
  if (stats.problems.length < 5 && !stats.problems.includes(problem)) stats.problems.push(problem);
}

/** Runs one query on one system: the latency (to the last byte of the answer) is recorded only for answers that came back 200. */
async function runQuery(stats: SystemStats, request: () => Promise<Response>, parse: (json: any) => Answer, check: (answer: Answer) => string | undefined): Promise<Answer | undefined> {
  stats.runs++;
  const started = performance.now();
  try {
    const response = await request();
    const text = await response.text();
    const elapsedMs = performance.now() - started;
    if (!response.ok) {
      stats.failures++;
      noteProblem(stats, `HTTP ${response.status}: ${text.slice(0, 200)}`);
      return undefined;
    }
    recordMs(stats.latency, elapsedMs);
    noteSlow(stats, elapsedMs);
    const answer = parse(JSON.parse(text));
    const problem = answer.partial ?? check(answer);
    if (problem) {
      stats.wrong++;
      noteProblem(stats, problem);
    }
    return answer;
  } catch (error) {
    stats.failures++;
    noteProblem(stats, String(error).slice(0, 200));
    return undefined;
  }
}

export interface KindStats {
  kind: QueryKind;
  sluice: SystemStats;
  clickhouse: SystemStats;
}

/**
 * Runs every query kind in turn, run i of a kind with the same parameters on each
 * system asked, one query at a time, for --seconds or until each kind has had
 * --queries-per-kind runs.
 */
async function measure(kinds: KindStats[], node: SluiceNode | undefined, clickhouse: ClickHouseServer | undefined, summary: DatasetSummary, options: BenchOptions, log: (line: string) => void): Promise<void> {
  const context: QueryContext = { summary, wholeFromUs: Math.min(summary.start_us, Date.now() * 1000 - 24 * HOUR_US) };
  const deadline = Date.now() + options.seconds * 1000;
  const runs = (stats: KindStats) => (node ? stats.sluice.runs : stats.clickhouse.runs);
  let lastLog = Date.now();
  while (Date.now() < deadline && kinds.some((stats) => runs(stats) < options.queriesPerKind)) {
    for (const stats of kinds) {
      if (runs(stats) >= options.queriesPerKind || Date.now() >= deadline) continue;
      const run = runs(stats);
      const nowUs = Date.now() * 1000;
      const check = (answer: Answer) => stats.kind.check(run, context, answer);
      if (node) {
        const url = `${node.httpUrl}${stats.kind.sluice(run, context, nowUs)}`;
        const answer = await runQuery(stats.sluice, () => fetch(url, { signal: AbortSignal.timeout(options.queryTimeoutMs) }), sluiceAnswer, check);
        stats.sluice.results.push(answer ? answer.total : -1);
        if (options.queryGapMs > 0) await Bun.sleep(options.queryGapMs);
      }
      if (clickhouse) {
        const sql = `${stats.kind.clickhouse(run, context, nowUs)} FORMAT JSON`;
        const answer = await runQuery(stats.clickhouse, () => fetch(`${clickhouse.httpUrl}/?output_format_json_quote_64bit_integers=0`, { method: "POST", body: sql, signal: AbortSignal.timeout(options.queryTimeoutMs) }), clickhouseAnswer, check);
        stats.clickhouse.results.push(answer ? answer.total : -1);
        if (options.queryGapMs > 0) await Bun.sleep(options.queryGapMs);
      }
    }
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      const p99 = (system: SystemStats) => percentiles(system.latency).p99;
      log(`  ${kinds.map((stats) => `${stats.kind.name} ${runs(stats)}: p99 ${[node ? p99(stats.sluice) : undefined, clickhouse ? p99(stats.clickhouse) : undefined].filter((value) => value !== undefined).join("/")} ms`).join(", ")}`);
    }
  }
}

/** What one measured phase saw beside the queries: live ingest achieved, peak RSS and CPU of the servers. */
export interface PhaseFigures {
  systems: string[];
  seconds: number;
  live_sluice_events_per_s: number;
  live_clickhouse_rows_per_s: number;
  live_final?: LiveStats;
  peak_rss_mb: Record<string, number>;
  /** Per server, this benchmark's process (queries and the live worker), the whole machine, and other processes (machine minus the rest: other people's work). */
  cpu_seconds: Record<string, number>;
}

/** One measured phase: live ingest into `live` systems, a warm-up, then the queries on the `queried` ones. */
export async function runPhase(kinds: KindStats[], queried: { node?: SluiceNode; clickhouse?: ClickHouseServer }, live: { sluice?: SluiceNode; clickhouse?: ClickHouseServer }, servers: { node: SluiceNode; clickhouse?: ClickHouseServer }, rss: RssSampler, summary: DatasetSummary, options: BenchOptions, log: (line: string) => void): Promise<PhaseFigures> {
  const systems = [queried.node ? "sluice" : "", queried.clickhouse ? "clickhouse" : ""].filter(Boolean);
  log(`measured phase (${systems.join(" + ")}): live ingest at ${options.ingestRate.toLocaleString()} events/s into ${[live.sluice ? "Sluice" : "", live.clickhouse ? "ClickHouse" : ""].filter(Boolean).join(" and ") || "nothing"}, ${options.warmupSeconds} s warm-up, then ${options.seconds} s of queries …`);
  const worker = options.ingestRate > 0 && (live.sluice || live.clickhouse) ? await startLive({ natsUrl: live.sluice?.natsUrl ?? null, shards: options.shards, rate: options.ingestRate, seed: options.seed, clickhouseUrl: live.clickhouse?.httpUrl ?? null }) : undefined;
  await Bun.sleep(options.warmupSeconds * 1000);
  rss.takePeaksMb();
  const liveBefore = worker?.latest();
  const cpuBefore = cpuSnapshot({ node: servers.node.pid, "nats-server": servers.node.natsPid, ...(servers.clickhouse ? { "clickhouse-server": servers.clickhouse.pid } : {}) });
  const started = performance.now();
  await measure(kinds, queried.node, queried.clickhouse, summary, options, log);
  const seconds = (performance.now() - started) / 1000;
  const liveAfter = worker?.latest();
  const cpu = cpuDelta(cpuBefore);
  const peaks = rss.takePeaksMb();
  const liveFinal = worker ? await worker.stop() : undefined;
  const liveSeconds = liveBefore && liveAfter ? (liveAfter.at - liveBefore.at) / 1000 : 0;
  // Each figure rounded on its own, and other processes from the rounded figures (machine minus the rest).
  const cpuUsed: Record<string, number> = { ...Object.fromEntries(Object.entries(cpu.processes).map(([name, used]) => [name, Math.round(used)])), bench: Math.round(cpu.bench), machine: Math.round(cpu.machine) };
  const perSecond = (pick: (stats: LiveStats) => number) => (liveSeconds > 0 ? Math.round((pick(liveAfter!) - pick(liveBefore!)) / liveSeconds) : 0);
  return {
    systems,
    seconds: Math.round(seconds),
    live_sluice_events_per_s: perSecond((stats) => stats.acked),
    live_clickhouse_rows_per_s: perSecond((stats) => stats.clickhouseRows),
    live_final: liveFinal,
    peak_rss_mb: peaks,
    cpu_seconds: { ...cpuUsed, other_processes: Math.round(cpuUsed.machine - Object.entries(cpuUsed).reduce((sum, [name, value]) => sum + (name === "machine" ? 0 : value), 0)) },
  };
}
