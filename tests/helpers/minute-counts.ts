// Per-series sums from MinuteCounts, the shape the counter tests compare against brute force.

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
