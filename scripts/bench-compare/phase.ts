// One timed phase of one system: the load generators send from an agreed start (the
// first byte), probes measure ingest-to-searchable beside them, server memory is
// sampled every RSS_SAMPLE_MS, and once the last ack is in, the system is polled until
// every acked event is queryable. Returns the phase's figures, its per-5 s windows and
// where the CPU went.

import { cpuDelta, cpuSnapshot, histogram, percentiles, recordMs, threadCpuDelta, threadCpuSeconds } from "../bench-lib.ts";
import type { LoadGenerator } from "./load.ts";
import type { LoadCounters } from "./load-messages.ts";
import { ProbeRunner } from "./probes.ts";
import { buildWindows, formatMs, WINDOW_SECONDS, type PhaseResult, type PhaseSeries } from "./report.ts";
import type { SystemUnderTest } from "./systems.ts";

/** Time between the run command and the first byte, so every thread starts together. */
const START_DELAY_MS = 500;
/** How often server memory is read (the peak is the highest of these). */
const RSS_SAMPLE_MS = 250;
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

export async function runPhase(sut: SystemUnderTest, generator: LoadGenerator, load: PhaseLoadOptions, log: (line: string) => void): Promise<PhaseResult> {
  const label = `${sut.system} ${load.kind}`;
  // What an earlier phase left queryable (the half-load phase runs on the same server).
  const queryableBefore = sut.queryableAtAck ? 0 : await sut.countQueryable();
  const channel = await sut.probeChannel();
  const startAtMs = Date.now() + START_DELAY_MS;
  const series: PhaseSeries & { acked: { atMs: number; acked: number }[]; ackLatencies: { atMs: number; ms: number }[]; serverRss: { atMs: number; mb: number }[] } = { startAtMs, endAtMs: 0, acked: [], ackLatencies: [], probes: [], serverRss: [] };
  const ackHistogram = histogram();
  const peaks: Record<string, number> = {};
  let peakServer = 0;
  const sampleMemory = () => {
    const memory = sut.memoryBytes();
    for (const [name, bytes] of Object.entries(memory)) peaks[name] = Math.max(peaks[name] ?? 0, bytes);
    const total = Object.values(memory).reduce((sum, bytes) => sum + bytes, 0);
    peakServer = Math.max(peakServer, total);
    series.serverRss.push({ atMs: Date.now(), mb: mb(total) });
  };
  const workBefore = await sut.workCounters?.();
  const serverCpuBefore = sut.cpuSeconds();
  const cpuBefore = cpuSnapshot({});
  const nodeThreadsBefore = sut.threadCpuSeconds?.();
  const benchThreadsBefore = threadCpuSeconds(process.pid);
  const memoryTimer = setInterval(sampleMemory, RSS_SAMPLE_MS);
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
    const window = buildWindows({ ...series, startAtMs: Date.now() - WINDOW_SECONDS * 1000, endAtMs: Date.now(), probes: [] }).at(0);
    if (!window) return;
    log(`  [${label}] t=${Math.round((Date.now() - startAtMs) / 1000)}s  ${window.events_per_s.toLocaleString()} events/s acked  ack p99 ${window.ack_p99_ms === null ? "-" : formatMs(window.ack_p99_ms)} ms  server RSS ${window.server_rss_mb.toLocaleString()} MB  sent ${(latest?.sent ?? 0).toLocaleString()}${latest?.retries ? `  retries ${latest.retries}` : ""}`);
  }, WINDOW_SECONDS * 1000);
  let final: LoadCounters;
  let queryableAtMs: number;
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
    clearInterval(memoryTimer);
  }
  const lastAckAtMs = series.endAtMs;
  const workAfter = await sut.workCounters?.();
  const probeStats = await probes.stop();
  await channel.close();
  sampleMemory();
  series.probes = probeStats.samples;
  const cpu = cpuDelta(cpuBefore);
  const serverCpuAfter = sut.cpuSeconds();
  const serverCpu = Object.fromEntries(Object.entries(serverCpuAfter).map(([name, seconds]) => [name, round1(seconds - (serverCpuBefore[name] ?? 0))]));
  const serverTotal = Object.values(serverCpu).reduce((sum, seconds) => sum + seconds, 0);
  const probeHistogram = histogram();
  for (const sample of probeStats.samples) recordMs(probeHistogram, sample.latencyMs);
  const queryableSeconds = (queryableAtMs - startAtMs) / 1000;
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
    send_seconds: round1((lastAckAtMs - startAtMs) / 1000),
    queryable_seconds: round1(queryableSeconds),
    sustained_events_per_s: Math.round(final.acked / queryableSeconds),
    acked_events_per_s: Math.round(final.acked / ((lastAckAtMs - startAtMs) / 1000)),
    ack_ms: percentiles(ackHistogram),
    searchable_ms: percentiles(probeHistogram),
    probes: { sent: probeStats.sent, found: probeStats.found, missing: probeStats.missing, failed: probeStats.failed, skipped: probeStats.skipped },
    peak_server_rss_mb: mb(peakServer),
    peak_rss_mb: Object.fromEntries(Object.entries(peaks).map(([name, bytes]) => [name, mb(bytes)])),
    cpu_seconds: { server: round1(serverTotal), ...serverCpu, bench: round1(cpu.bench), machine: round1(cpu.machine), other: round1(cpu.other - serverTotal) },
    threads_cpu_seconds: { ...(nodeThreadsBefore ? { node: threadCpuDelta(sut.threadCpuSeconds!(), nodeThreadsBefore) } : {}), bench: threadCpuDelta(threadCpuSeconds(process.pid), benchThreadsBefore) },
    server_work: workBefore && workAfter ? Object.fromEntries(Object.entries(workAfter).map(([name, value]) => [name, Math.round(value - (workBefore[name] ?? 0))])) : undefined,
    windows: buildWindows(series),
  };
}
