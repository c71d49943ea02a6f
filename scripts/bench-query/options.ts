// The query benchmark's options: one parser from the command line to a frozen,
// checked configuration.

import { resolve } from "node:path";
import cac from "cac";

export interface BenchOptions {
  events: number;
  seed: number;
  dataDir: string;
  ingestRate: number;
  seconds: number;
  warmupSeconds: number;
  queriesPerKind: number;
  clickhouse: boolean;
  clickhouseLive: boolean;
  interleave: boolean;
  shards: number;
  inflight: number;
  jobs: number;
  settleSeconds: number;
  queryTimeoutMs: number;
  queryGapMs: number;
  deleteDatasetFiles: boolean;
  json?: string;
  /** Run the node under Bun's CPU profiler, writing its profile here on exit. */
  nodeProf?: string;
}

export function parseBenchOptions(argv: string[]): Readonly<BenchOptions> {
  const cli = cac("bench-query");
  cli.option("--events <n>", "events in the dataset (spread over 24 h)", { default: 2_000_000 });
  cli.option("--seed <n>", "dataset seed", { default: 1 });
  cli.option("--data-dir <dir>", "dataset files, Sluice and ClickHouse data, manifest.json; reused by a rerun (default /tmp/sluice-bench-query-<events>)");
  cli.option("--ingest-rate <n>", "live events/s published during the measured phase (0: none)", { default: 100_000 });
  cli.option("--seconds <n>", "length of the measured phase", { default: 120 });
  cli.option("--warmup-seconds <n>", "live ingest before measuring starts", { default: 5 });
  cli.option("--queries-per-kind <n>", "stop a query kind after this many runs (per system)", { default: 200 });
  cli.option("--no-clickhouse", "Sluice only");
  cli.option("--no-clickhouse-live", "do not insert live events into ClickHouse while it is queried");
  cli.option("--interleave", "query both systems in turn in one phase with live ingest into both (default: a phase per system, the other idle)");
  cli.option("--shards <n>", "node shards (fixed once the data dir exists)", { default: 16 });
  cli.option("--inflight <n>", "unacknowledged WAL publishes at once while loading", { default: 8 });
  cli.option("--jobs <n>", "processes making the dataset files", { default: 2 });
  cli.option("--settle-seconds <n>", "longest wait after loading for Sluice's storage work and ClickHouse's merges to finish", { default: 120 });
  cli.option("--query-timeout-ms <n>", "a query slower than this counts as failed", { default: 60_000 });
  cli.option("--query-gap-ms <n>", "pause after each query (0: back to back, the harshest for ingest)", { default: 0 });
  cli.option("--delete-dataset-files", "remove the dataset's chunk files once both systems are loaded (dataset.json stays)");
  cli.option("--json <file>", "also write the result as JSON");
  cli.option("--node-prof <dir>", "run the node under Bun's CPU profiler (.cpuprofile written to this directory on exit); figures are slower under it");
  cli.help();
  const args = cli.parse(argv).options;
  if (args.help) process.exit(0);
  const number = (name: string, value: unknown, min: number) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min) throw new Error(`--${name}: ${JSON.stringify(value)} is not a number >= ${min}`);
    return parsed;
  };
  const events = number("events", args.events, 1);
  return Object.freeze({
    events,
    seed: number("seed", args.seed, 0),
    dataDir: resolve(String(args.dataDir ?? `/tmp/sluice-bench-query-${events}`)),
    ingestRate: number("ingest-rate", args.ingestRate, 0),
    seconds: number("seconds", args.seconds, 1),
    warmupSeconds: number("warmup-seconds", args.warmupSeconds, 0),
    queriesPerKind: number("queries-per-kind", args.queriesPerKind, 1),
    clickhouse: args.clickhouse !== false,
    clickhouseLive: args.clickhouse !== false && args.clickhouseLive !== false,
    interleave: args.interleave === true,
    shards: number("shards", args.shards, 1),
    inflight: number("inflight", args.inflight, 1),
    jobs: number("jobs", args.jobs, 1),
    settleSeconds: number("settle-seconds", args.settleSeconds, 0),
    queryTimeoutMs: number("query-timeout-ms", args.queryTimeoutMs, 1),
    queryGapMs: number("query-gap-ms", args.queryGapMs, 0),
    deleteDatasetFiles: args.deleteDatasetFiles === true,
    json: args.json === undefined ? undefined : String(args.json),
    nodeProf: args.nodeProf === undefined ? undefined : resolve(String(args.nodeProf)),
  });
}
