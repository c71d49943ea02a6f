// The ingest comparison's figures and how they are printed (pure: no I/O, no clock):
// per-5 s windows from the raw series a phase records, the markdown table with each
// Sluice figure as a ratio to ClickHouse's, the issue's goals checked, and a compact
// line per system. tests/bench-compare.test.ts covers these.

import type { Percentiles } from "../bench-lib.ts";
import { isSluice, type SystemName } from "./load-messages.ts";

/** One window of a phase (WINDOW_SECONDS long; the last may be shorter). */
export interface Window {
  /** Seconds from the phase's first byte to the window's end. */
  t_s: number;
  seconds: number;
  events_per_s: number;
  ack_p99_ms: number | null;
  /** p99 of the probes handed off in the window; null when none was found. */
  searchable_p99_ms: number | null;
  /** Server memory at the window's end (sum over its processes). */
  server_rss_mb: number;
}

/** A system's bytes on disk after a full-speed phase, and per event. */
export interface Disk {
  bytes: number;
  rows: number;
  bytes_per_event: number;
  detail: Record<string, unknown>;
}

export interface PhaseResult {
  kind: "max" | "half";
  /** Events/s cap of the load; 0 = full speed. */
  rate_cap: number;
  events_target: number;
  /** True when the phase stopped at --seconds-max before sending events_target events. */
  ran_by_time: boolean;
  events_sent: number;
  events_acked: number;
  events_failed: number;
  retries: number;
  refused: number;
  dropped: number;
  /** First byte sent to last ack, s. */
  send_seconds: number;
  /** First byte sent to last event queryable, s. */
  queryable_seconds: number;
  sustained_events_per_s: number;
  acked_events_per_s: number;
  ack_ms: Percentiles;
  searchable_ms: Percentiles;
  probes: { sent: number; found: number; missing: number; failed: number; skipped: number; poll_failures?: number };
  /** Peak of the sum over the server's processes, and each process's own peak, MB. */
  peak_server_rss_mb: number;
  peak_rss_mb: Record<string, number>;
  cpu_seconds: Record<string, number>;
  /** CPU seconds per thread name of the Sluice node, and of this benchmark's process (main thread, load generators). */
  threads_cpu_seconds?: Record<string, Record<string, number>>;
  disk?: Disk;
  /** The server's own counters over the phase (Sluice: storage work ms and counts, flow pauses, HTTP 429s). */
  server_work?: Record<string, number>;
  windows: Window[];
}

export interface SystemResult {
  system: SystemName;
  label: string;
  max: PhaseResult;
  half?: PhaseResult;
  notes: string[];
}

export const WINDOW_SECONDS = 5;

// ---- windows ----

/** Nearest-rank percentile of unsorted values; null when there are none. */
export function percentileOf(values: readonly number[], percent: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((percent / 100) * sorted.length) - 1))];
}

/** What a phase records as it runs, times as Date.now() values. */
export interface PhaseSeries {
  startAtMs: number;
  endAtMs: number;
  /** Cumulative events acked, sampled. */
  acked: readonly { atMs: number; acked: number }[];
  ackLatencies: readonly { atMs: number; ms: number }[];
  probes: readonly { sentAtMs: number; latencyMs: number }[];
  serverRss: readonly { atMs: number; mb: number }[];
}

const round = (value: number, digits = 0) => Math.round(value * 10 ** digits) / 10 ** digits;

/** The acked count at `atMs`: the last sample at or before it (0 before the first). */
function ackedAt(series: PhaseSeries["acked"], atMs: number): number {
  let acked = 0;
  for (const sample of series) {
    if (sample.atMs > atMs) break;
    acked = sample.acked;
  }
  return acked;
}

/** Cuts a phase into WINDOW_SECONDS windows from its first byte to its end (a last window under a second is dropped). */
export function buildWindows(series: PhaseSeries, windowSeconds = WINDOW_SECONDS): Window[] {
  const windows: Window[] = [];
  for (let fromMs = series.startAtMs; fromMs < series.endAtMs; fromMs += windowSeconds * 1000) {
    const toMs = Math.min(series.endAtMs, fromMs + windowSeconds * 1000);
    const seconds = (toMs - fromMs) / 1000;
    if (seconds < 1 && windows.length > 0) break;
    const inWindow = (atMs: number) => atMs >= fromMs && atMs < toMs;
    const ack = percentileOf(series.ackLatencies.filter((sample) => inWindow(sample.atMs)).map((sample) => sample.ms), 99);
    const searchable = percentileOf(series.probes.filter((sample) => inWindow(sample.sentAtMs)).map((sample) => sample.latencyMs), 99);
    const rss = series.serverRss.filter((sample) => sample.atMs <= toMs).at(-1)?.mb ?? 0;
    windows.push({
      t_s: round((toMs - series.startAtMs) / 1000, 1),
      seconds: round(seconds, 1),
      events_per_s: Math.round((ackedAt(series.acked, toMs) - ackedAt(series.acked, fromMs)) / seconds),
      ack_p99_ms: ack === null ? null : round(ack, 2),
      searchable_p99_ms: searchable === null ? null : round(searchable, 1),
      server_rss_mb: rss,
    });
  }
  return windows;
}

/** Growth of server memory from a third into the phase to its end, as a fraction (0.1 = +10%); null with under 3 windows. */
export function rssGrowth(windows: readonly Window[]): number | null {
  if (windows.length < 3) return null;
  const third = windows[Math.floor(windows.length / 3)].server_rss_mb;
  const last = windows[windows.length - 1].server_rss_mb;
  return third > 0 ? round((last - third) / third, 3) : null;
}

// ---- formatting ----

const integer = (value: number) => Math.round(value).toLocaleString("en-US");

/** Milliseconds to about 3 significant digits. */
export function formatMs(ms: number): string {
  if (ms < 1) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  return integer(ms);
}

/** Memory growth as a signed percentage, e.g. "+12%". */
const formatGrowth = (growth: number) => `${growth >= 0 ? "+" : ""}${Math.round(growth * 100)}%`;

/** A ratio to ClickHouse, e.g. "1.23×"; "n/a" without both figures. */
export function formatRatio(value: number | null | undefined, reference: number | null | undefined): string {
  if (value === null || value === undefined || reference === null || reference === undefined || reference === 0) return "n/a";
  const ratio = value / reference;
  return `${ratio >= 10 ? ratio.toFixed(1) : ratio.toFixed(2)}×`;
}

interface Row {
  figure: string;
  value: (result: SystemResult) => number | null | undefined;
  format: (value: number, result: SystemResult) => string;
  /** Shown as a ratio to ClickHouse's in Sluice's columns. */
  ratio: boolean;
}

const rows: Row[] = [
  { figure: "events acked, first byte to last queryable", value: (r) => r.max.events_acked, format: (value, r) => `${integer(value)} in ${r.max.queryable_seconds} s${r.max.ran_by_time ? " (by time)" : ""}`, ratio: false },
  { figure: "**sustained events/s**", value: (r) => r.max.sustained_events_per_s, format: (value) => `**${integer(value)}**`, ratio: true },
  { figure: "ack p50 ms", value: (r) => r.max.ack_ms.p50, format: formatMs, ratio: true },
  { figure: "ack p99 ms", value: (r) => r.max.ack_ms.p99, format: formatMs, ratio: true },
  { figure: "ack p999 ms", value: (r) => r.max.ack_ms.p999, format: formatMs, ratio: true },
  { figure: "ingest-to-searchable p50 ms", value: (r) => (r.max.searchable_ms.count > 0 ? r.max.searchable_ms.p50 : null), format: formatMs, ratio: true },
  { figure: "ingest-to-searchable p99 ms", value: (r) => (r.max.searchable_ms.count > 0 ? r.max.searchable_ms.p99 : null), format: formatMs, ratio: true },
  { figure: "peak server RSS MB", value: (r) => r.max.peak_server_rss_mb, format: (value, r) => `${integer(value)}${Object.keys(r.max.peak_rss_mb).length > 1 ? ` (${Object.entries(r.max.peak_rss_mb).map(([name, mb]) => `${name} ${integer(mb)}`).join(" + ")})` : ""}`, ratio: true },
  { figure: "server RSS growth, 1/3 of the run to its end", value: (r) => rssGrowth(r.max.windows), format: formatGrowth, ratio: false },
  { figure: "disk bytes/event", value: (r) => r.max.disk?.bytes_per_event, format: (value) => value.toFixed(1), ratio: true },
  { figure: "at 50% load: events/s (cap)", value: (r) => r.half?.sustained_events_per_s, format: (value, r) => `${integer(value)} (${integer(r.half?.rate_cap ?? 0)})`, ratio: false },
  { figure: "at 50% load: ack p50 / p99 ms", value: (r) => r.half?.ack_ms.p99, format: (_value, r) => `${formatMs(r.half!.ack_ms.p50)} / ${formatMs(r.half!.ack_ms.p99)}`, ratio: false },
  { figure: "at 50% load: searchable p50 / p99 ms", value: (r) => (r.half && r.half.searchable_ms.count > 0 ? r.half.searchable_ms.p99 : null), format: (_value, r) => `${formatMs(r.half!.searchable_ms.p50)} / ${formatMs(r.half!.searchable_ms.p99)}`, ratio: false },
  { figure: "retries / dropped / failed events", value: (r) => r.max.retries, format: (_value, r) => `${integer(r.max.retries)} / ${integer(r.max.dropped)} / ${integer(r.max.events_failed)}`, ratio: false },
  { figure: "CPU s: server / load generator", value: (r) => r.max.cpu_seconds.server, format: (value, r) => `${value.toFixed(1)} / ${(r.max.cpu_seconds.bench ?? 0).toFixed(1)}`, ratio: false },
];

/** The comparison as one markdown table: a row per figure, a column per system, Sluice's figures also as ratios to ClickHouse's. */
export function formatTable(results: readonly SystemResult[]): string {
  const clickhouse = results.find((result) => result.system === "clickhouse");
  const header = `| figure | ${results.map((result) => result.label).join(" | ")} |`;
  const rule = `| --- |${results.map(() => " --- |").join("")}`;
  const lines = rows.map((row) => {
    const cells = results.map((result) => {
      const value = row.value(result);
      if (value === null || value === undefined) return "";
      const text = row.format(value, result);
      if (!row.ratio || !isSluice(result.system) || !clickhouse) return text;
      return `${text} (${formatRatio(value, row.value(clickhouse))})`;
    });
    return `| ${row.figure} | ${cells.join(" | ")} |`;
  });
  return [header, rule, ...lines].join("\n");
}

export interface GoalCheck {
  goal: string;
  value: string;
  met: boolean;
}

/** The issue's goals, each checked against the run's figures (only those the run measured). */
export function checkGoals(results: readonly SystemResult[]): GoalCheck[] {
  const by = (system: SystemName) => results.find((result) => result.system === system);
  const sdk = by("sdk-flatbuffers");
  const http = by("http");
  const clickhouse = by("clickhouse");
  const checks: GoalCheck[] = [];
  if (sdk) checks.push({ goal: "NATS + SDK sustained ≥ 1,000,000 events/s", value: integer(sdk.max.sustained_events_per_s), met: sdk.max.sustained_events_per_s >= 1_000_000 });
  if (sdk && clickhouse) checks.push({ goal: "NATS + SDK ≥ 1.0× ClickHouse's rate", value: formatRatio(sdk.max.sustained_events_per_s, clickhouse.max.sustained_events_per_s), met: sdk.max.sustained_events_per_s >= clickhouse.max.sustained_events_per_s });
  if (http) checks.push({ goal: "HTTP sustained ≥ 400,000 events/s", value: integer(http.max.sustained_events_per_s), met: http.max.sustained_events_per_s >= 400_000 });
  for (const result of results.filter((candidate) => isSluice(candidate.system))) {
    const half = result.half;
    if (half) {
      checks.push({ goal: `${result.label}: ack p99 at 50% load < 10 ms`, value: `${formatMs(half.ack_ms.p99)} ms`, met: half.ack_ms.count > 0 && half.ack_ms.p99 < 10 });
      checks.push({ goal: `${result.label}: searchable at 50% load p50 < 100 ms, p99 < 500 ms`, value: `${formatMs(half.searchable_ms.p50)} / ${formatMs(half.searchable_ms.p99)} ms`, met: half.searchable_ms.count > 0 && half.searchable_ms.p50 < 100 && half.searchable_ms.p99 < 500 });
    }
    const growth = rssGrowth(result.max.windows);
    checks.push({ goal: `${result.label}: server RSS at max load < 1.5 GB, flat (≤ +10% from 1/3 of the run)`, value: `${integer(result.max.peak_server_rss_mb)} MB, ${growth === null ? "n/a" : formatGrowth(growth)}`, met: result.max.peak_server_rss_mb < 1536 && growth !== null && growth <= 0.1 });
    if (clickhouse?.max.disk && result.max.disk) checks.push({ goal: `${result.label}: disk per event ≤ ClickHouse's`, value: `${result.max.disk.bytes_per_event.toFixed(1)} vs ${clickhouse.max.disk.bytes_per_event.toFixed(1)} B`, met: result.max.disk.bytes_per_event <= clickhouse.max.disk.bytes_per_event });
  }
  return checks;
}

export function formatGoals(checks: readonly GoalCheck[]): string {
  return ["| goal | this run | met |", "| --- | --- | --- |", ...checks.map((check) => `| ${check.goal} | ${check.value} | ${check.met ? "yes" : "**no**"} |`)].join("\n");
}

/** One line per system: the main figures and the per-window rates, so a stall or a leak shows. */
export function formatCompactLine(result: SystemResult): string {
  const max = result.max;
  const parts = [
    `${result.label}: ${integer(max.events_acked)} events in ${max.queryable_seconds} s${max.ran_by_time ? " (ran by time)" : ""}`,
    `${integer(max.sustained_events_per_s)}/s sustained`,
    `ack p50/p99/p999 ${formatMs(max.ack_ms.p50)}/${formatMs(max.ack_ms.p99)}/${formatMs(max.ack_ms.p999)} ms`,
    `searchable p50/p99 ${formatMs(max.searchable_ms.p50)}/${formatMs(max.searchable_ms.p99)} ms`,
    `peak RSS ${integer(max.peak_server_rss_mb)} MB`,
    max.disk ? `${max.disk.bytes_per_event.toFixed(1)} B/event` : "",
    `5 s windows (k events/s): ${max.windows.map((window) => Math.round(window.events_per_s / 1000)).join(" ")}`,
    result.half ? `at 50% (${integer(result.half.rate_cap)}/s): ack p99 ${formatMs(result.half.ack_ms.p99)} ms, searchable p50/p99 ${formatMs(result.half.searchable_ms.p50)}/${formatMs(result.half.searchable_ms.p99)} ms` : "",
  ];
  return parts.filter(Boolean).join("; ");
}

/** Where the full-speed phase's CPU went: per server process, the busiest threads of the node and of the load generators, and the server's own work counters. */
export function formatCpuLine(result: SystemResult): string {
  const max = result.max;
  const machineSeconds = max.cpu_seconds.machine ?? 0;
  const threads = (name: string) => {
    const byThread = max.threads_cpu_seconds?.[name];
    return byThread ? ` (${Object.entries(byThread).slice(0, 3).map(([thread, seconds]) => `${thread} ${seconds}`).join(", ")})` : "";
  };
  const processes = Object.entries(max.cpu_seconds).filter(([name]) => !["server", "bench", "machine", "other"].includes(name));
  const parts = [
    `${result.label}: CPU s over ${max.queryable_seconds} s (machine ${machineSeconds}, ${(machineSeconds / Math.max(1, max.queryable_seconds)).toFixed(2)} cores busy)`,
    ...processes.map(([name, seconds]) => `${name} ${seconds}${name === "node" ? threads("node") : ""}`),
    `benchmark process ${max.cpu_seconds.bench ?? 0}${threads("bench")}`,
    max.server_work ? `server work ${Object.entries(max.server_work).map(([name, value]) => `${name} ${value.toLocaleString("en-US")}`).join(", ")}` : "",
  ];
  return parts.filter(Boolean).join("; ");
}
