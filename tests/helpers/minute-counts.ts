// Per-series sums from MinuteCounts, the shape the counter tests compare against brute force.

import type { DuckDBMaterializedResult } from "@duckdb/node-api";
import { perSeries, type MinuteCounts } from "../../src/storage/minute-counts.ts";

/** Visits the counts of every (service, level) series and bucket: sumGroups with one group per series. */
export function sumSeries(counts: MinuteCounts, tenant: string, fromMinute: number, toMinute: number, bucketMinutes: number | null, visit: (service: string, level: number, bucket: number, count: number) => void): void {
  const series: [string, number][] = [];
  counts.sumGroups(
    tenant,
    fromMinute,
    toMinute,
    bucketMinutes,
    perSeries((service, level) => series.push([service, level]) - 1),
    (group, bucket, count) => visit(series[group][0], series[group][1], bucket, count),
  );
}

/** Adds the rows of a minuteCountsSql result to `counts` (the reference the series-id path and RowBuffer's counts are checked against). */
export function addMinuteCountsResult(counts: MinuteCounts, result: DuckDBMaterializedResult): void {
  for (let chunkIndex = 0; chunkIndex < result.chunkCount; chunkIndex++) {
    const chunk = result.getChunk(chunkIndex);
    // Columns in minuteCountsSql's SELECT order.
    const [minutes, tenants, services, levels, rows] = [0, 1, 2, 3, 4].map((column) => chunk.getColumnVector(column));
    for (let row = 0; row < chunk.rowCount; row++) {
      counts.add(Number(minutes.getItem(row)), tenants.getItem(row) as string, services.getItem(row) as string, Number(levels.getItem(row)), Number(rows.getItem(row)));
    }
  }
}
