// One timed phase of one system: the load generators send from an agreed start (the
// first byte), probes measure ingest-to-searchable beside them, server memory is
// sampled (bench-lib's RssSampler), and once the last ack is in, the system is polled
// until every acked event is queryable. Returns the phase's figures, its per-5 s
// windows and where the CPU went.

import { cpuDelta, cpuSeconds, cpuSnapshot, histogram, percentiles, recordMs, rssBytes, RssSampler, threadCpuDelta, threadCpuSeconds } from "../bench-lib.ts";
import type { LoadGenerator } from "./load.ts";
import type { LoadCounters } from "./load-messages.ts";
import { ProbeRunner, type ProbeSample } from "./probes.ts";
import { treeCpuSeconds, treePssBytes } from "./processes.ts";
import { buildWindows, formatMs, WINDOW_SECONDS, type PhaseResult, type PhaseSeries } from "./report.ts";
import type { SystemUnderTest } from "./systems.ts";

/** Time between the run command and the first byte, so every thread starts together. */
const START_DELAY_MS = 500;
/** How often the queryable count is asked for once the load has stopped. */
const QUERYABLE_POLL_MS = 100;
/** Longest wait, after the last ack, for every acked event to be queryable. */
const QUERYABLE_TIMEOUT_MS = 300_000;

export interface PhaseLoadOptions {
  kind: "max" | "half";
  rate: number;
  minSeconds: number;
  maxSeconds: number;
  eventsTarget: number;
  probeIntervalMs: number;
}

const round1 = (value: number) => Math.round(value * 10) / 10;
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);

/** Waits until the system can query `acked` load events more than `before`; resolves with when (Date.now()), or rejects past the timeout. */
async function waitQueryable(sut: SystemUnderTest, before: number, acked: number, lastAckAtMs: number, log: (line: string) => void): Promise<number> {
  if (sut.queryableAtAck) return lastAckAtMs;
  const deadline = Date.now() + QUERYABLE_TIMEOUT_MS;
  let seen = 0;
  while (Date.now() < deadline) {
    seen = (await sut.countQueryable()) - before;
    if (seen >= acked) return Date.now();
    await Bun.sleep(QUERYABLE_POLL_MS);
  }
  log(`  only ${seen.toLocaleString()} of ${acked.toLocaleString()} acked events were queryable ${QUERYABLE_TIMEOUT_MS / 1000} s after the last ack`);
  throw new Error(`${sut.system}: ${acked - seen} acked events not queryable after ${QUERYABLE_TIMEOUT_MS / 1000} s`);
}

/** Server memory sampled while it runs: each process's peak, and their sum over time (for the windows and the peak of the sum). */
function startMemorySampler(sut: SystemUnderTest, series: { atMs: number; mb: number }[]): RssSampler {
  const memoryBytes = sut.processTrees ? treePssBytes : rssBytes;
  return new RssSampler({
    read: () => Object.fromEntries(Object.entries(sut.processes).map(([name, pid]) => [name, memoryBytes(pid)])),
    onSample: (bytes) => series.push({ atMs: Date.now(), mb: mb(Object.values(bytes).reduce((sum, value) => sum + value, 0)) }),
  });
}

/** CPU seconds from start() to read(): per server process, this benchmark's process, the machine, and per thread of the node and of this process. */
function startCpuMeter(sut: SystemUnderTest): () => Pick<PhaseResult, "cpu_seconds" | "threads_cpu_seconds"> {
  const before = cpuSnapshot(sut.processes, sut.processTrees ? treeCpuSeconds : cpuSeconds);
  const nodeThreadsBefore = sut.threadCpuSeconds?.();
  const benchThreadsBefore = threadCpuSeconds(process.pid);
  return () => {
    const cpu = cpuDelta(before);
    const server = Object.fromEntries(Object.entries(cpu.processes).map(([name, seconds]) => [name, round1(seconds)]));
    const serverTotal = Object.values(server).reduce((sum, seconds) => sum + seconds, 0);
    return {
      // Other processes: the machine less this process and the server's rounded figures, so the printed figures add up.
      cpu_seconds: { server: round1(serverTotal), ...server, bench: round1(cpu.bench), machine: round1(cpu.machine), other: round1(cpu.machine - cpu.bench - serverTotal) },
      threads_cpu_seconds: { ...(nodeThreadsBefore ? { node: threadCpuDelta(sut.threadCpuSeconds!(), nodeThreadsBefore) } : {}), bench: threadCpuDelta(threadCpuSeconds(process.pid), benchThreadsBefore) },
    };
  };
}

/** One progress line on the last WINDOW_SECONDS of a running phase. */
function progressLine(label: string, series: PhaseSeries, latest: LoadCounters | undefined): string | undefined {
  const nowMs = Date.now();
  const window = buildWindows({ ...series, startAtMs: nowMs - WINDOW_SECONDS * 1000, endAtMs: nowMs, probes: [] }).at(0);
  if (!window) return undefined;
  return `  [${label}] t=${Math.round((nowMs - series.startAtMs) / 1000)}s  ${window.events_per_s.toLocaleString()} events/s acked  ack p99 ${window.ack_p99_ms === null ? "-" : formatMs(window.ack_p99_ms)} ms  server RSS ${window.server_rss_mb.toLocaleString()} MB  sent ${(latest?.sent ?? 0).toLocaleString()}${latest?.retries ? `  retries ${latest.retries}` : ""}`;
}

/** Differences of two readings of the server's work counters. */
const workDelta = (before?: Record<string, number>, after?: Record<string, number>) => (before && after ? Object.fromEntries(Object.entries(after).map(([name, value]) => [name, Math.round(value - (before[name] ?? 0))])) : undefined);

export async function runPhase(sut: SystemUnderTest, generator: LoadGenerator, load: PhaseLoadOptions, log: (line: string) => void): Promise<PhaseResult> {
  const label = `${sut.system} ${load.kind}`;
  // What an earlier phase left queryable (the half-load phase runs on the same server).
  const queryableBefore = sut.queryableAtAck ? 0 : await sut.countQueryable();
  const channel = await sut.probeChannel();
  const workBefore = await sut.workCounters?.();
  const startAtMs = Date.now() + START_DELAY_MS;
  const series = { startAtMs, endAtMs: 0, acked: [] as { atMs: number; acked: number }[], ackLatencies: [] as { atMs: number; ms: number }[], probes: [] as ProbeSample[], serverRss: [] as { atMs: number; mb: number }[] };
  const ackHistogram = histogram();
  const readCpu = startCpuMeter(sut);
  const memory = startMemorySampler(sut, series.serverRss);
  let latest: LoadCounters | undefined;
  const running = generator.run({ phaseId: `${sut.system}-${load.kind}-${startAtMs}`, startAtMs, minSeconds: load.minSeconds, maxSeconds: load.maxSeconds, eventsTarget: load.eventsTarget, rate: load.rate }, (counters, ackMs) => {
    const atMs = Date.now();
    series.acked.push({ atMs, acked: counters.acked });
    for (const ms of ackMs) {
      recordMs(ackHistogram, ms);
      series.ackLatencies.push({ atMs, ms });
    }
    latest = counters;
  });
  await Bun.sleep(Math.max(0, startAtMs - Date.now()));
  const probes = new ProbeRunner(channel, `${sut.system}-${load.kind}`, load.probeIntervalMs);
  const progress = setInterval(() => {
    const line = progressLine(label, series, latest);
    if (line) log(line);
  }, WINDOW_SECONDS * 1000);
  let final: LoadCounters;
  let queryableAtMs: number;
  let peakRssMb: Record<string, number>;
  try {
    final = await running;
    clearInterval(progress);
    series.endAtMs = final.lastAckAtMs > 0 ? final.lastAckAtMs : Date.now();
    log(`  [${label}] load done: ${final.acked.toLocaleString()} events acked in ${round1((series.endAtMs - startAtMs) / 1000)} s; waiting until all are queryable …`);
    queryableAtMs = await waitQueryable(sut, queryableBefore, final.acked, series.endAtMs, log);
  } catch (error) {
    probes.abort();
    await channel.close();
    throw error;
  } finally {
    clearInterval(progress);
    peakRssMb = memory.takePeaksMb();
    memory.stop();
  }
  const cpu = readCpu();
  const workAfter = await sut.workCounters?.();
  const probeStats = await probes.stop();
  await channel.close();
  series.probes = probeStats.samples;
  const probeHistogram = histogram();
  for (const sample of probeStats.samples) recordMs(probeHistogram, sample.latencyMs);
  const queryableSeconds = (queryableAtMs - startAtMs) / 1000;
  const sendSeconds = (series.endAtMs - startAtMs) / 1000;
  return {
    kind: load.kind,
    rate_cap: Math.round(load.rate),
    events_target: load.eventsTarget,
    ran_by_time: load.eventsTarget > 0 && final.acked < load.eventsTarget,
    events_sent: final.sent,
    events_acked: final.acked,
    events_failed: final.failed,
    retries: final.retries,
    refused: final.refused,
    dropped: final.dropped,
    send_seconds: round1(sendSeconds),
    queryable_seconds: round1(queryableSeconds),
    sustained_events_per_s: Math.round(final.acked / queryableSeconds),
    acked_events_per_s: Math.round(final.acked / sendSeconds),
    ack_ms: percentiles(ackHistogram),
    searchable_ms: percentiles(probeHistogram),
    probes: { sent: probeStats.sent, found: probeStats.found, missing: probeStats.missing, failed: probeStats.failed, skipped: probeStats.skipped, poll_failures: probeStats.pollFailures },
    // The peak of the sum: the highest sample of the series (rounding to MB keeps the order).
    peak_server_rss_mb: series.serverRss.reduce((peak, sample) => Math.max(peak, sample.mb), 0),
    peak_rss_mb: peakRssMb,
    ...cpu,
    server_work: workDelta(workBefore, workAfter),
    windows: buildWindows(series),
  };
}
