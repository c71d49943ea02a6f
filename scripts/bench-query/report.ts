// The query benchmark's report: per query kind, each system's latency figures and how
// their answers agree; and the markdown tables: latency per query and system against
// the issue's goals, then load, live ingest, memory, CPU and disk figures side by side.

import { percentiles } from "../bench-lib.ts";
import type { KindStats, SystemStats } from "./phase.ts";

function formatLatency(stats: SystemStats): string {
  if (stats.latency.totalCount === 0) return stats.runs === 0 ? "—" : `failed (${stats.failures}/${stats.runs})`;
  const p = percentiles(stats.latency);
  return `${p.p50} / ${p.p99} / ${p.p999}${stats.failures > 0 ? ` (${stats.failures} failed)` : ""}${stats.wrong > 0 ? ` (${stats.wrong} wrong)` : ""}`;
}

export function reportTable(kinds: KindStats[], figures: Record<string, any>, clickhouse: boolean): string {
  const lines = [
    `| query | Sluice p50 / p99 / p999 ms | ClickHouse ${figures.clickhouse_version ?? ""} p50 / p99 / p999 ms | p99 goal (Sluice) | Sluice meets goal | runs |`,
    "| --- | --- | --- | --- | --- | --- |",
  ];
  for (const stats of kinds) {
    const p99 = percentiles(stats.sluice.latency).p99;
    const meets = stats.kind.goalMs === null ? "—" : stats.sluice.latency.totalCount === 0 ? "no (failed)" : p99 < stats.kind.goalMs && stats.sluice.wrong === 0 ? "yes" : "no";
    lines.push(`| ${stats.kind.title} | ${formatLatency(stats.sluice)} | ${clickhouse ? formatLatency(stats.clickhouse) : "not run"} | ${stats.kind.goalMs === null ? "—" : `< ${stats.kind.goalMs.toLocaleString()} ms`} | ${meets} | ${stats.sluice.runs} |`);
  }
  const load = figures.load;
  const rss = figures.measured.peak_rss_mb;
  lines.push(
    "",
    "| figure | Sluice | ClickHouse |",
    "| --- | --- | --- |",
    `| dataset | ${figures.events.toLocaleString()} events over 24 h (seed ${figures.seed}); ${figures.mode} | same events |`,
    `| load throughput (events/s, to all searchable) | ${load.sluice?.events_per_s?.toLocaleString() ?? "—"} (${load.sluice?.seconds ?? "—"} s; CPU s of other processes meanwhile: ${load.sluice?.cpu_seconds?.other_processes ?? "?"}) | ${load.clickhouse?.events_per_s?.toLocaleString() ?? "—"} (${load.clickhouse?.seconds ?? "—"} s; other processes: ${load.clickhouse?.cpu_seconds?.other_processes ?? "?"}) |`,
    `| live ingest while queried (events/s, target ${figures.live_target_events_per_s.toLocaleString()}) | ${figures.measured.sluice_live_events_per_s.toLocaleString()} acked | ${clickhouse ? `${figures.measured.clickhouse_live_rows_per_s.toLocaleString()} inserted` : "—"} |`,
    `| peak RSS while loading (MB) | node ${load.sluice?.peak_rss_mb?.node ?? "—"}, nats-server ${load.sluice?.peak_rss_mb?.["nats-server"] ?? "—"} | ${load.clickhouse?.peak_rss_mb?.["clickhouse-server"] ?? "—"} |`,
    `| peak RSS while queried (MB) | node ${rss.node ?? "—"}, nats-server ${rss["nats-server"] ?? "—"} | ${rss["clickhouse-server"] ?? "—"} |`,
    `| CPU s while queried | node ${figures.measured.cpu_seconds.node}, nats-server ${figures.measured.cpu_seconds["nats-server"]} (${figures.phases[0].seconds} s) | ${figures.measured.cpu_seconds["clickhouse-server"] ?? "—"} (${figures.phases[figures.phases.length - 1].seconds} s) |`,
    `| CPU s of this benchmark / of other processes on the machine while queried | ${figures.phases[0].cpu_seconds.bench} / ${figures.phases[0].cpu_seconds.other_processes} | ${clickhouse ? `${figures.phases[figures.phases.length - 1].cpu_seconds.bench} / ${figures.phases[figures.phases.length - 1].cpu_seconds.other_processes}` : "—"} |`,
    `| disk bytes | ${figures.disk.sluice_total.toLocaleString()} (segments ${figures.disk.sluice_segments.toLocaleString()}, nats ${figures.disk.sluice_nats.toLocaleString()}) | ${clickhouse ? `${figures.disk.clickhouse_total.toLocaleString()} (logs ${figures.disk.clickhouse_logs.toLocaleString()}, trace index ${figures.disk.clickhouse_trace_index.toLocaleString()})` : "—"} |`,
  );
  return lines.join("\n");
}

/** How the systems' answers compare where both answered: runs that differ, and the largest relative difference (rows, or totals of aggregates). */
function agreement(stats: KindStats): { compared: number; differ: number; max_relative_difference: number } {
  let compared = 0;
  let differ = 0;
  let maxRelative = 0;
  stats.sluice.results.forEach((result, index) => {
    const other = stats.clickhouse.results[index];
    if (result < 0 || other === undefined || other < 0) return;
    compared++;
    if (result !== other) differ++;
    maxRelative = Math.max(maxRelative, Math.abs(result - other) / Math.max(1, result, other));
  });
  return { compared, differ, max_relative_difference: Math.round(maxRelative * 10_000) / 10_000 };
}

/** Per query kind: its goal, each system's latency percentiles, runs, failures and problems, and how their answers agree. */
export function queryFigures(kinds: readonly KindStats[], clickhouse: boolean): Record<string, unknown> {
  return Object.fromEntries(
    kinds.map((stats) => [
      stats.kind.name,
      {
        title: stats.kind.title,
        goal_p99_ms: stats.kind.goalMs,
        sluice: { ...percentiles(stats.sluice.latency), runs: stats.sluice.runs, failures: stats.sluice.failures, wrong_answers: stats.sluice.wrong, problems: stats.sluice.problems, slowest: stats.sluice.slowest },
        clickhouse: clickhouse ? { ...percentiles(stats.clickhouse.latency), runs: stats.clickhouse.runs, failures: stats.clickhouse.failures, wrong_answers: stats.clickhouse.wrong, problems: stats.clickhouse.problems, slowest: stats.clickhouse.slowest } : null,
        agreement: clickhouse ? agreement(stats) : null,
      },
    ]),
  );
}
