// Before measuring: exact counts of the loaded window on both systems against what the
// generator made, and a wait until their background work is quiet.

import { getJson, settleUntilQuiet, storageWorkPending, type SluiceNode } from "../bench-lib.ts";
import { clickhouseMerges, clickhouseQuery, type ClickHouseServer } from "../clickhouse/server.ts";
import type { DatasetSummary } from "../gen-dataset.ts";
import { seconds } from "./queries.ts";

/** How a system's counts per group differ from the generated ones ("differs for N groups, e.g. …"), or undefined when they match. */
function diffCounts(want: Record<string, number>, got: Record<string, number>): string | undefined {
  const wrong = Object.keys({ ...want, ...got }).filter((key) => want[key] !== got[key]);
  if (wrong.length > 0) return `differs for ${wrong.length} groups, e.g. ${wrong[0]}: ${got[wrong[0]]} vs ${want[wrong[0]]} generated`;
}

/** Exact counts of the loaded window [start, end) on both systems against what the generator made. */
export async function verifyLoaded(node: SluiceNode, clickhouse: ClickHouseServer | undefined, summary: DatasetSummary): Promise<string[]> {
  const problems: string[] = [];
  const window = `from=${summary.start_us}&to=${summary.end_us}`;
  const expected = (pick: (service: string, level: string) => string) => {
    const totals: Record<string, number> = {};
    for (const [service, byLevel] of Object.entries(summary.counts_by_service_level)) for (const [level, count] of Object.entries(byLevel)) totals[pick(service, level)] = (totals[pick(service, level)] ?? 0) + count;
    return totals;
  };
  for (const field of ["service", "level"] as const) {
    const want = expected((service, level) => (field === "service" ? service : level));
    try {
      const answer = await getJson(node.httpUrl, `/api/v1/logs/aggregate?group_by=${field}&${window}`);
      const got = answer.aggregations as Record<string, number>;
      const difference = diffCounts(want, got);
      if (difference) problems.push(`sluice: count by ${field} of the loaded window ${difference}`);
    } catch (error) {
      problems.push(`sluice: count by ${field} failed: ${error}`);
    }
  }
  if (clickhouse) {
    const want = expected((service, level) => `${service}\t${level}`);
    const rows = await clickhouseQuery(clickhouse.httpUrl, `SELECT service, level, count() FROM logs WHERE timestamp_us >= ${summary.start_us} AND timestamp_us < ${summary.end_us} GROUP BY service, level FORMAT TabSeparated`);
    const got: Record<string, number> = {};
    for (const line of rows.split("\n").filter(Boolean)) got[line.slice(0, line.lastIndexOf("\t"))] = Number(line.slice(line.lastIndexOf("\t") + 1));
    const difference = diffCounts(want, got);
    if (difference) problems.push(`clickhouse: count by service, level of the loaded window ${difference}`);
    const counted = Number((await clickhouseQuery(clickhouse.httpUrl, `SELECT sum(events) FROM logs_minute_counts WHERE minute >= toDateTime(${seconds(summary.start_us)}) AND minute < toDateTime(${seconds(summary.end_us)})`)).trim());
    if (counted !== summary.events) problems.push(`clickhouse: logs_minute_counts holds ${counted} events of the loaded window, not ${summary.events}`);
  }
  return problems;
}

/** Waits (up to maxSeconds) until Sluice's storage work queue and ClickHouse's merges are idle twice in a row. */
export async function settle(node: SluiceNode, clickhouse: ClickHouseServer | undefined, maxSeconds: number, log: (line: string) => void): Promise<Record<string, unknown>> {
  let state: Record<string, unknown> = {};
  const settled = await settleUntilQuiet(maxSeconds, async () => {
    const health = await getJson(node.httpUrl, "/api/v1/system/health");
    const sluiceBusy = storageWorkPending(health);
    const merges = clickhouse ? await clickhouseMerges(clickhouse.httpUrl) : 0;
    state = { sluice_storage_work: sluiceBusy, sluice_segments: health.storage_utilization?.segments, clickhouse_merges: merges };
    return { idle: sluiceBusy === 0 && merges === 0, state };
  });
  log(`  settled after ${settled.seconds} s: ${JSON.stringify(state)}`);
  return settled;
}
