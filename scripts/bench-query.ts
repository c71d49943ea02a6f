// Query benchmark (not a test): the issue's five queries over a seed-shaped dataset of
// --events events spread over 24 h, against Sluice and ClickHouse loaded with the same
// events, in the same run, while live ingest runs at --ingest-rate.
//
// 1. Makes the dataset files once (scripts/gen-dataset.ts: FlatBuffers WAL batches and
//    the same events as TSV, in <data-dir>/dataset), so generation is not in the loads.
// 2. Starts a Sluice node (its own nats-server child, data in <data-dir>/sluice) and
//    loads the batches over NATS at full speed, honouring the flow signal, until the
//    aggregate count says every event is searchable.
// 3. Starts Debian's clickhouse-server (data in <data-dir>/clickhouse; schema in
//    scripts/clickhouse/schema.sql) and loads the TSV rows over HTTP.
// 4. Checks exact counts of the loaded part on both, then measures: for --seconds each
//    query kind runs in turn with varied parameters, one query at a time, while a
//    worker thread ingests live events at --ingest-rate (published to Sluice over NATS
//    honouring the flow signal; for ClickHouse, the same events in one INSERT a
//    second). By default Sluice is measured first under its live ingest, then
//    ClickHouse under its own, the other idle; --interleave queries both in turn in one
//    phase with both ingesting. Each latency (to the last byte of the answer) goes into
//    an hdr histogram per (system, query) and every answer is checked.
// A rerun with the same --data-dir skips what <data-dir>/manifest.json says is loaded.
//
//   bun scripts/bench-query.ts --events 2000000 --data-dir /tmp/sluice-bench-query --seconds 60

import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import cac from "cac";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { walSubject } from "../src/protocol/subjects.ts";
import { FlowGate } from "../src/sdk/flow-gate.ts";
import { MINUTE_US } from "../src/storage/minute-counts.ts";
import { bucketTotal, Children, cpuDelta, cpuSnapshot, directoryBytes, getJson, histogram, percentiles, publishBatch, recordMs, RssSampler, startSluiceNode, type Histogram, type PublishCounters, type SluiceNode } from "./bench-lib.ts";
import { BATCH_EVENTS, buildCatalog, chunkEventCount, chunkFiles, datasetSummaryPath, liveEvents, parseEndUs, readFlatbuffersChunk, readTsvChunk, toTsv, TSV_COLUMNS, writeDataset, DATASET_SPAN_US, type DatasetSummary } from "./gen-dataset.ts";
import { clickhouseMerges, clickhouseQuery, clickhouseStorage, createSchema, dropSchema, insertTsv, sqlString, startClickHouse, type ClickHouseServer } from "./clickhouse/server.ts";

// ---- options ----

interface BenchOptions {
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
}

function parseBenchOptions(argv: string[]): Readonly<BenchOptions> {
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
  });
}

// ---- the manifest: what the data dir holds ----

/** Version of manifest.json; another version means the data dir was made by another layout. */
const MANIFEST_VERSION = 1;

interface LoadRecord {
  loaded_at: string;
  events: number;
  seconds: number;
  events_per_s: number;
  [figure: string]: unknown;
}

interface Manifest {
  version: number;
  events: number;
  seed: number;
  end_us: number;
  start_us: number;
  needles: DatasetSummary["needles"];
  /** A sample of the trace ids the dataset holds (all of them are in dataset/dataset.json). */
  sample_trace_ids: string[];
  sluice?: LoadRecord;
  clickhouse?: LoadRecord;
}

const paths = (dataDir: string) => ({
  dataset: join(dataDir, "dataset"),
  sluice: join(dataDir, "sluice"),
  clickhouse: join(dataDir, "clickhouse"),
  manifest: join(dataDir, "manifest.json"),
  nodeLog: join(dataDir, "node.log"),
});

function readManifest(path: string, options: BenchOptions): Manifest | undefined {
  if (!existsSync(path)) return undefined;
  const manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  if (manifest.version !== MANIFEST_VERSION || manifest.events !== options.events || manifest.seed !== options.seed) {
    throw new Error(`${path} describes ${manifest.events} events of seed ${manifest.seed} (version ${manifest.version}), not ${options.events} of seed ${options.seed}: use another --data-dir or remove this one`);
  }
  return manifest;
}

function writeManifest(path: string, manifest: Manifest): void {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

// ---- loading ----

/** Events of each batch of a chunk: CHUNK_EVENTS / BATCH_EVENTS batches of BATCH_EVENTS, the last chunk's last batch shorter. */
function batchEvents(summary: DatasetSummary, chunk: number, batch: number): number {
  return Math.min(BATCH_EVENTS, chunkEventCount(summary.events, chunk) - batch * BATCH_EVENTS);
}

/** Polls the aggregate count of [start, end) until it reaches the dataset's events; returns the count seen last. */
async function waitSearchable(node: SluiceNode, summary: DatasetSummary, timeoutMs: number, log: (line: string) => void): Promise<number> {
  const events = summary.events;
  const deadline = Date.now() + timeoutMs;
  let lastLog = 0;
  for (;;) {
    const answer = await getJson(node.httpUrl, `/api/v1/logs/aggregate?group_by=level&from=${summary.start_us}&to=${summary.end_us}`).catch((error) => ({ error: String(error) }));
    const count = "buckets" in answer ? bucketTotal(answer.buckets) : -1;
    if (count >= events) return count;
    if (Date.now() > deadline) return count;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`  waiting until searchable: ${count.toLocaleString()} / ${events.toLocaleString()}${"error" in answer ? ` (${answer.error})` : ""}`);
    }
    await Bun.sleep(200);
  }
}

async function loadSluice(node: SluiceNode, datasetDir: string, summary: DatasetSummary, options: BenchOptions, log: (line: string) => void): Promise<LoadRecord> {
  const nc = await connect({ servers: node.natsUrl, maxReconnectAttempts: -1 });
  const gate = FlowGate.listen(nc, (error) => log(`malformed flow signal: ${error}`));
  const js = jetstream(nc);
  const counters: PublishCounters = { ackedEvents: 0, refusedPublishes: 0, failedPublishes: 0 };
  const started = performance.now();
  const cpuBefore = cpuSnapshot({ node: node.pid, nats_server: node.natsPid });
  async function* batches(): AsyncGenerator<{ payload: Uint8Array; events: number }> {
    let next = readFlatbuffersChunk(datasetDir, 0);
    for (let chunk = 0; chunk < summary.chunks; chunk++) {
      const current = await next;
      // Read and decompress the next chunk while this one is published.
      if (chunk + 1 < summary.chunks) next = readFlatbuffersChunk(datasetDir, chunk + 1);
      for (let batch = 0; batch < current.length; batch++) yield { payload: current[batch], events: batchEvents(summary, chunk, batch) };
    }
  }
  const source = batches();
  let lastAcked = 0;
  let lastAt = started;
  const progress = setInterval(() => {
    const now = performance.now();
    const rate = (counters.ackedEvents - lastAcked) / ((now - lastAt) / 1000);
    const average = counters.ackedEvents / ((now - started) / 1000);
    log(`  sluice load: ${counters.ackedEvents.toLocaleString()} / ${summary.events.toLocaleString()} acked, ${Math.round(rate).toLocaleString()} events/s (mean ${Math.round(average).toLocaleString()}), ETA ${Math.round((summary.events - counters.ackedEvents) / Math.max(1, average))} s, flow waits ${gate.stats().waits}`);
    lastAcked = counters.ackedEvents;
    lastAt = now;
  }, 5000);
  let published = 0;
  const lanes = Array.from({ length: options.inflight }, async () => {
    for (let item = await source.next(); !item.done; item = await source.next()) {
      await publishBatch(js, gate, walSubject("default", published++ % options.shards), item.value.payload, item.value.events, counters);
    }
  });
  try {
    await Promise.all(lanes);
  } finally {
    clearInterval(progress);
  }
  const publishSeconds = (performance.now() - started) / 1000;
  log(`  sluice load: published ${counters.ackedEvents.toLocaleString()} events in ${publishSeconds.toFixed(1)} s; waiting until all are searchable …`);
  const searchable = await waitSearchable(node, summary, 900_000, log);
  const seconds = (performance.now() - started) / 1000;
  const flow = gate.stats();
  gate.close();
  await nc.close();
  if (counters.failedPublishes > 0 || searchable !== summary.events) throw new Error(`sluice load incomplete: ${counters.failedPublishes} publishes failed, ${searchable} of ${summary.events} events searchable (more means the data dir held events already)`);
  const cpu = cpuDelta(cpuBefore);
  return {
    loaded_at: new Date().toISOString(),
    events: summary.events,
    seconds: Math.round(seconds * 10) / 10,
    events_per_s: Math.round(summary.events / seconds),
    publish_seconds: Math.round(publishSeconds * 10) / 10,
    publish_events_per_s: Math.round(summary.events / publishSeconds),
    wal_full_refusals_retried: counters.refusedPublishes,
    flow_pauses_heard: flow.pauses,
    flow_lane_waits: flow.waits,
    cpu_seconds: { node: Math.round(cpu.processes.node), nats_server: Math.round(cpu.processes.nats_server), bench: Math.round(cpu.bench), other_processes: Math.round(cpu.other) },
  };
}

async function loadClickHouse(server: ClickHouseServer, datasetDir: string, summary: DatasetSummary, log: (line: string) => void): Promise<LoadRecord> {
  await dropSchema(server.httpUrl);
  await createSchema(server.httpUrl);
  const started = performance.now();
  const cpuBefore = cpuSnapshot({ clickhouse_server: server.pid });
  let inserted = 0;
  let nextChunk = 0;
  const progress = setInterval(() => {
    const average = inserted / ((performance.now() - started) / 1000);
    log(`  clickhouse load: ${inserted.toLocaleString()} / ${summary.events.toLocaleString()} rows, mean ${Math.round(average).toLocaleString()} rows/s, ETA ${Math.round((summary.events - inserted) / Math.max(1, average))} s`);
  }, 5000);
  // Two INSERTs at once, one per core, each a whole chunk (250,000 rows) as ClickHouse likes them.
  const lanes = Array.from({ length: 2 }, async () => {
    for (let chunk = nextChunk++; chunk < summary.chunks; chunk = nextChunk++) {
      await insertTsv(server.httpUrl, await readTsvChunk(datasetDir, chunk));
      inserted += chunkEventCount(summary.events, chunk);
    }
  });
  try {
    await Promise.all(lanes);
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  const count = Number((await clickhouseQuery(server.httpUrl, "SELECT count() FROM logs")).trim());
  if (count !== summary.events) throw new Error(`clickhouse load incomplete: ${count} rows, expected ${summary.events}`);
  const cpu = cpuDelta(cpuBefore);
  return { loaded_at: new Date().toISOString(), events: count, seconds: Math.round(seconds * 10) / 10, events_per_s: Math.round(count / seconds), cpu_seconds: { clickhouse_server: Math.round(cpu.processes.clickhouse_server), bench: Math.round(cpu.bench), other_processes: Math.round(cpu.other) } };
}

// ---- checks and quiet ----

/** How a system's counts per group differ from the generated ones ("differs for N groups, e.g. …"), or undefined when they match. */
function diffCounts(want: Record<string, number>, got: Record<string, number>): string | undefined {
  const wrong = Object.keys({ ...want, ...got }).filter((key) => want[key] !== got[key]);
  if (wrong.length > 0) return `differs for ${wrong.length} groups, e.g. ${wrong[0]}: ${got[wrong[0]]} vs ${want[wrong[0]]} generated`;
}

/** Exact counts of the loaded window [start, end) on both systems against what the generator made. */
async function verifyLoaded(node: SluiceNode, clickhouse: ClickHouseServer | undefined, summary: DatasetSummary): Promise<string[]> {
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
async function settle(node: SluiceNode, clickhouse: ClickHouseServer | undefined, maxSeconds: number, log: (line: string) => void): Promise<Record<string, unknown>> {
  const started = performance.now();
  let quietPolls = 0;
  let state: Record<string, unknown> = {};
  while ((performance.now() - started) / 1000 < maxSeconds) {
    const health = await getJson(node.httpUrl, "/api/v1/system/health");
    const queue = health.storage_utilization?.work_queue ?? {};
    const sluiceBusy = (queue.running ?? 0) + Object.values((queue.waiting ?? {}) as Record<string, number>).reduce((sum, count) => sum + count, 0);
    const merges = clickhouse ? await clickhouseMerges(clickhouse.httpUrl) : 0;
    state = { sluice_storage_work: sluiceBusy, sluice_segments: health.storage_utilization?.segments, clickhouse_merges: merges };
    quietPolls = sluiceBusy === 0 && merges === 0 ? quietPolls + 1 : 0;
    if (quietPolls >= 2) break;
    await Bun.sleep(1000);
  }
  const seconds = Math.round((performance.now() - started) / 100) / 10;
  log(`  settled after ${seconds} s: ${JSON.stringify(state)}`);
  return { seconds, quiet: quietPolls >= 2, ...state };
}

// ---- the queries ----

interface QueryContext {
  summary: DatasetSummary;
  /** Start of "the whole 24 h": the dataset's start, or now - 24 h if that is earlier (an old data dir). */
  wholeFromUs: number;
}

/** What a query answered, reduced to what is checked. */
interface Answer {
  /** Why the answer is known to be incomplete (Sluice's `partial`: shards that did not answer in time). */
  partial?: string;
  rows: Record<string, any>[];
  /** Sum of every count (aggregates). */
  total: number;
  /** Groups or buckets (aggregates). */
  groups: number;
}

interface QueryKind {
  name: string;
  title: string;
  /** The issue's p99 goal for Sluice, ms; null for a query outside the goals. */
  goalMs: number | null;
  sluice(run: number, context: QueryContext, nowUs: number): string;
  clickhouse(run: number, context: QueryContext, nowUs: number): string;
  /** Why the answer is wrong, or undefined when it is plausible. */
  check(run: number, context: QueryContext, answer: Answer): string | undefined;
}

const COLUMNS = TSV_COLUMNS.join(", ");
// ClickHouse filters time on the DateTime column `ts` (seconds) alone, as its users do
// (reading timestamp_us too would cost a second 8-byte column), and counts from the
// per-minute view logs_minute_counts (schema.sql): "last 24 h" there starts at a whole
// minute, and the histogram's windows are whole minutes, so its counts stay exact.
const HOUR_US = 3_600_000_000;
/** Services asked for `service:X level:ERROR`: the most popular, which log errors every few seconds. */
const ERROR_QUERY_SERVICES = 20;
const seconds = (us: number) => Math.floor(us / 1_000_000);
const iso = (us: number) => new Date(us / 1000).toISOString();
const q = (text: string) => encodeURIComponent(text);
/**
 * "Last 24 h" from its first whole minute, as a dashboard asks it: ClickHouse's
 * per-minute view can only start at a minute, and Sluice then answers from its
 * counters alone (README: dashboard counters). Both systems get the same range.
 */
const dayAgoMinuteUs = (nowUs: number) => Math.ceil((nowUs - 24 * HOUR_US) / MINUTE_US) * MINUTE_US;

const traceOf = (run: number, context: QueryContext) => context.summary.trace_samples[(run * 7919) % context.summary.trace_samples.length];
const needleOf = (run: number, context: QueryContext) => context.summary.needles[run % context.summary.needles.length];
const serviceOf = (run: number, context: QueryContext) => context.summary.services[run % Math.min(ERROR_QUERY_SERVICES, context.summary.services.length)];
/** A minute-aligned 1 h window inside the loaded 24 h (its expected counts are known exactly). */
const windowOf = (run: number, context: QueryContext) => {
  const minute = (run * 7919 + 13) % (DATASET_SPAN_US / MINUTE_US - 60);
  return { minute, fromUs: context.summary.start_us + minute * MINUTE_US, toUs: context.summary.start_us + minute * MINUTE_US + HOUR_US };
};

const QUERY_KINDS: QueryKind[] = [
  {
    name: "trace_id",
    title: "trace_id lookup, whole 24 h",
    goalMs: 200,
    sluice: (run, context) => `/api/v1/logs/search?q=${q(`trace_id:${traceOf(run, context).trace_id}`)}&from=${context.wholeFromUs}&limit=100`,
    clickhouse: (run, context) => {
      const id = sqlString(traceOf(run, context).trace_id);
      return `SELECT ${COLUMNS} FROM logs WHERE trace_id = ${id} AND toStartOfHour(ts) IN (SELECT hour FROM logs_trace_hours WHERE trace_id = ${id}) AND ts >= toDateTime(${seconds(context.wholeFromUs)}) ORDER BY timestamp_us DESC LIMIT 100`;
    },
    check: (run, context, answer) => {
      const trace = traceOf(run, context);
      if (answer.rows.length !== trace.events) return `trace ${trace.trace_id}: ${answer.rows.length} events, expected ${trace.events}`;
      if (answer.rows.some((row) => row.trace_id !== trace.trace_id)) return `trace ${trace.trace_id}: an event of another trace`;
    },
  },
  {
    name: "rare_word",
    title: "rare word in the message, whole 24 h",
    goalMs: 1000,
    sluice: (run, context) => `/api/v1/logs/search?q=${q(needleOf(run, context).word)}&from=${context.wholeFromUs}&limit=100`,
    clickhouse: (run, context) => `SELECT ${COLUMNS} FROM logs WHERE positionCaseInsensitive(message, ${sqlString(needleOf(run, context).word)}) > 0 AND ts >= toDateTime(${seconds(context.wholeFromUs)}) ORDER BY timestamp_us DESC LIMIT 100`,
    check: (run, context, answer) => {
      const needle = needleOf(run, context);
      if (answer.rows.length !== needle.count) return `word ${needle.word}: ${answer.rows.length} events, expected ${needle.count}`;
      if (answer.rows.some((row) => !String(row.message).toLowerCase().includes(needle.word))) return `word ${needle.word}: a message without it`;
    },
  },
  {
    name: "service_errors",
    title: "`service:X level:ERROR` last 15 min, first page",
    goalMs: 100,
    sluice: (run, context) => `/api/v1/logs/search?q=${q(`service:${serviceOf(run, context)} level:ERROR`)}&from=now-15m&limit=100`,
    clickhouse: (run, context, nowUs) => `SELECT ${COLUMNS} FROM logs WHERE service = ${sqlString(serviceOf(run, context))} AND level = 'ERROR' AND ts >= toDateTime(${seconds(nowUs - 15 * MINUTE_US)}) ORDER BY timestamp_us DESC LIMIT 100`,
    check: (run, context, answer) => {
      const service = serviceOf(run, context);
      if (answer.rows.some((row) => row.service !== service || row.level !== "ERROR")) return `service ${service}: a row of another service or level`;
      if (answer.rows.length === 0) return `service ${service}: no ERROR events in the last 15 min`;
    },
  },
  {
    name: "count_service_level",
    title: "count by service and level, last 24 h",
    goalMs: 50,
    sluice: (_run, _context, nowUs) => `/api/v1/logs/aggregate?group_by=service,level&from=${dayAgoMinuteUs(nowUs)}`,
    clickhouse: (_run, _context, nowUs) => `SELECT service, level, sum(events) AS count FROM logs_minute_counts WHERE minute >= toDateTime(${seconds(dayAgoMinuteUs(nowUs))}) GROUP BY service, level`,
    check: (_run, context, answer) => {
      const pairs = Object.values(context.summary.counts_by_service_level).reduce((sum, byLevel) => sum + Object.keys(byLevel).length, 0);
      if (answer.groups < pairs / 2) return `${answer.groups} groups; the dataset has ${pairs} (service, level) pairs`;
      if (answer.total <= 0) return "no events counted";
    },
  },
  {
    name: "histogram_1h",
    title: "histogram of a 1 h window, 1 min buckets",
    goalMs: 200,
    sluice: (run, context) => `/api/v1/logs/aggregate?interval=1m&from=${iso(windowOf(run, context).fromUs)}&to=${iso(windowOf(run, context).toUs)}`,
    clickhouse: (run, context) => {
      const { fromUs, toUs } = windowOf(run, context);
      return `SELECT minute, sum(events) AS count FROM logs_minute_counts WHERE minute >= toDateTime(${seconds(fromUs)}) AND minute < toDateTime(${seconds(toUs)}) GROUP BY minute ORDER BY minute`;
    },
    check: (run, context, answer) => {
      const { minute } = windowOf(run, context);
      const expected = context.summary.counts_per_minute.slice(minute, minute + 60).reduce((sum, count) => sum + count, 0);
      if (answer.total !== expected) return `window at minute ${minute}: ${answer.total} events counted, ${expected} generated`;
      if (answer.groups < 55 || answer.groups > 61) return `window at minute ${minute}: ${answer.groups} buckets, expected 60`;
    },
  },
  {
    name: "count_service",
    title: "count by service, last 24 h (today's single group_by)",
    goalMs: null,
    sluice: (_run, _context, nowUs) => `/api/v1/logs/aggregate?group_by=service&from=${dayAgoMinuteUs(nowUs)}`,
    clickhouse: (_run, _context, nowUs) => `SELECT service, sum(events) AS count FROM logs_minute_counts WHERE minute >= toDateTime(${seconds(dayAgoMinuteUs(nowUs))}) GROUP BY service`,
    check: (_run, context, answer) => {
      if (answer.groups < context.summary.services.length / 2) return `${answer.groups} services; the dataset has ${context.summary.services.length}`;
    },
  },
];

/** Reads Sluice's JSON: a search's rows, or an aggregate's buckets (groups) and their total. */
function sluiceAnswer(json: Record<string, any>): Answer {
  const partial = json.partial === true ? `partial answer: ${JSON.stringify(json.missing_shards ?? []).slice(0, 160)}` : undefined;
  if (Array.isArray(json.logs)) return { partial, rows: json.logs, total: json.logs.length, groups: json.logs.length };
  const buckets: { count: number }[] = json.buckets ?? [];
  return { partial, rows: [], total: bucketTotal(buckets), groups: buckets.length };
}

function clickhouseAnswer(json: { data: Record<string, any>[] }): Answer {
  const counted = json.data.length > 0 && typeof json.data[0].count === "number";
  return { rows: counted ? [] : json.data, total: counted ? json.data.reduce((sum, row) => sum + row.count, 0) : json.data.length, groups: json.data.length };
}

interface SystemStats {
  latency: Histogram;
  runs: number;
  failures: number;
  wrong: number;
  /** The first few distinct problems (failures and wrong answers). */
  problems: string[];
  /** Rows or totals per run, for comparing the systems. */
  results: number[];
}

const newSystemStats = (): SystemStats => ({ latency: histogram(), runs: 0, failures: 0, wrong: 0, problems: [], results: [] });

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

// ---- live ingest (a worker thread, so encoding never delays the query timings) ----

interface LiveWorkerData {
  /** Publish to Sluice's WAL on this server (null: not to Sluice). */
  natsUrl: string | null;
  shards: number;
  rate: number;
  seed: number;
  clickhouseUrl: string | null;
}

interface LiveStats {
  type: "ready" | "stats" | "done";
  /** Date.now() when taken. */
  at: number;
  acked: number;
  refused: number;
  failed: number;
  flowWaits: number;
  clickhouseRows: number;
  clickhouseFailures: number;
  clickhouseInsertMsMax: number;
}

/** Distinct live events cycled through (restamped with the clock as they are sent): ~2 s of ingest at 100,000/s. */
const LIVE_POOL_EVENTS = 200_000;
const LIVE_BATCH = 1000;
const LIVE_LANES = 4;
/** ClickHouse gets the live events in one INSERT per this period, as a log shipper would batch them. */
const LIVE_CLICKHOUSE_PERIOD_MS = 1000;

async function liveWorker(data: LiveWorkerData): Promise<void> {
  const port = parentPort!;
  const factory = liveEvents(buildCatalog(data.seed), data.seed);
  const pool = Array.from({ length: LIVE_POOL_EVENTS }, () => factory.next(0));
  const nc = data.natsUrl ? await connect({ servers: data.natsUrl, maxReconnectAttempts: -1 }) : undefined;
  const gate = nc ? FlowGate.listen(nc) : undefined;
  const js = nc ? jetstream(nc) : undefined;
  const counters: PublishCounters = { ackedEvents: 0, refusedPublishes: 0, failedPublishes: 0 };
  const clickhouse = { rows: 0, failures: 0, insertMsMax: 0, pending: [] as string[], pendingRows: 0 };
  let stopping = false;
  port.on("message", (message) => {
    if (message === "stop") stopping = true;
  });
  const stats = (type: LiveStats["type"]): LiveStats => ({ type, at: Date.now(), acked: counters.ackedEvents, refused: counters.refusedPublishes, failed: counters.failedPublishes, flowWaits: gate?.stats().waits ?? 0, clickhouseRows: clickhouse.rows, clickhouseFailures: clickhouse.failures, clickhouseInsertMsMax: Math.round(clickhouse.insertMsMax) });
  port.postMessage(stats("ready"));
  const statsTimer = setInterval(() => port.postMessage(stats("stats")), 1000);
  const started = performance.now();
  const slotMs = (LIVE_BATCH / data.rate) * 1000;
  let slot = 0;
  let cursor = 0;
  // Same schedule as bench-ingest --rate: a lane takes the next slot and sleeps until it is due.
  const lanes = Array.from({ length: LIVE_LANES }, async () => {
    while (!stopping) {
      const waitMs = started + slot++ * slotMs - performance.now();
      if (waitMs >= 1) await Bun.sleep(waitMs);
      if (stopping) break;
      const batch = pool.slice(cursor, cursor + LIVE_BATCH);
      cursor = (cursor + LIVE_BATCH) % LIVE_POOL_EVENTS;
      const nowUs = Date.now() * 1000;
      batch.forEach((event, index) => (event.timestampUs = nowUs - (LIVE_BATCH - index) * 10));
      if (data.clickhouseUrl) {
        clickhouse.pending.push(toTsv(batch));
        clickhouse.pendingRows += batch.length;
      }
      if (js) await publishBatch(js, gate, walSubject("default", slot % data.shards), encodeBatch(batch), batch.length, counters);
    }
  });
  const inserter = (async () => {
    if (!data.clickhouseUrl) return;
    while (!stopping || clickhouse.pending.length > 0) {
      const body = clickhouse.pending.splice(0).join("");
      const rows = clickhouse.pendingRows;
      clickhouse.pendingRows = 0;
      if (rows > 0) {
        const insertStarted = performance.now();
        try {
          await insertTsv(data.clickhouseUrl, body);
          clickhouse.rows += rows;
        } catch (error) {
          clickhouse.failures++;
          console.error(`live clickhouse insert failed: ${error}`);
        }
        clickhouse.insertMsMax = Math.max(clickhouse.insertMsMax, performance.now() - insertStarted);
      }
      if (!stopping) await Bun.sleep(Math.max(0, LIVE_CLICKHOUSE_PERIOD_MS - (performance.now() - started) % LIVE_CLICKHOUSE_PERIOD_MS));
    }
  })();
  await Promise.all(lanes);
  await inserter;
  clearInterval(statsTimer);
  gate?.close();
  await nc?.close();
  port.postMessage(stats("done"));
}

/** Starts the live ingest worker and resolves once it is publishing; `latest` always holds its last stats. */
async function startLive(data: LiveWorkerData): Promise<{ latest: () => LiveStats; stop: () => Promise<LiveStats> }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: data });
  let latest: LiveStats | undefined;
  let onDone: ((stats: LiveStats) => void) | undefined;
  const done = new Promise<LiveStats>((resolveDone) => (onDone = resolveDone));
  const ready = new Promise<void>((resolveReady, reject) => {
    worker.on("message", (stats: LiveStats) => {
      latest = stats;
      if (stats.type === "ready") resolveReady();
      if (stats.type === "done") onDone?.(stats);
    });
    worker.on("error", reject);
  });
  await ready;
  return {
    latest: () => latest!,
    stop: async () => {
      worker.postMessage("stop");
      const final = await Promise.race([done, Bun.sleep(60_000).then(() => latest!)]);
      await worker.terminate();
      return final;
    },
  };
}

// ---- the measured phase ----

interface KindStats {
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
interface PhaseFigures {
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
async function runPhase(kinds: KindStats[], queried: { node?: SluiceNode; clickhouse?: ClickHouseServer }, live: { sluice?: SluiceNode; clickhouse?: ClickHouseServer }, servers: { node: SluiceNode; clickhouse?: ClickHouseServer }, rss: RssSampler, summary: DatasetSummary, options: BenchOptions, log: (line: string) => void): Promise<PhaseFigures> {
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

// ---- report ----

function formatLatency(stats: SystemStats): string {
  if (stats.latency.totalCount === 0) return stats.runs === 0 ? "—" : `failed (${stats.failures}/${stats.runs})`;
  const p = percentiles(stats.latency);
  return `${p.p50} / ${p.p99} / ${p.p999}${stats.failures > 0 ? ` (${stats.failures} failed)` : ""}${stats.wrong > 0 ? ` (${stats.wrong} wrong)` : ""}`;
}

function reportTable(kinds: KindStats[], figures: Record<string, any>, clickhouse: boolean): string {
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

// ---- main ----

async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv);
  const log = (line: string) => console.error(line);
  const children = new Children(log);
  const layout = paths(options.dataDir);
  mkdirSync(options.dataDir, { recursive: true });
  let manifest = readManifest(layout.manifest, options);
  const endUs = manifest?.end_us ?? parseEndUs(undefined);
  const needFiles = !manifest?.sluice || (options.clickhouse && !manifest.clickhouse);
  log(`data dir ${options.dataDir}: ${options.events.toLocaleString()} events, seed ${options.seed}, window ending ${iso(endUs)}`);
  const summary: DatasetSummary = needFiles ? await writeDataset(layout.dataset, { events: options.events, seed: options.seed, endUs }, { jobs: options.jobs, log, children }) : JSON.parse(readFileSync(datasetSummaryPath(layout.dataset), "utf8"));
  manifest ??= { version: MANIFEST_VERSION, events: summary.events, seed: summary.seed, end_us: summary.end_us, start_us: summary.start_us, needles: summary.needles, sample_trace_ids: summary.trace_samples.slice(0, 20).map((sample) => sample.trace_id) };
  writeManifest(layout.manifest, manifest);
  const rss = new RssSampler();

  if (!manifest.sluice) rmSync(layout.sluice, { recursive: true, force: true });
  mkdirSync(layout.sluice, { recursive: true });
  log("starting the Sluice node …");
  const node = await startSluiceNode({ dataDir: layout.sluice, shards: options.shards, logPath: layout.nodeLog, children });
  rss.watch("node", node.pid);
  rss.watch("nats-server", node.natsPid);
  if (!manifest.sluice) {
    log(`loading ${summary.events.toLocaleString()} events into Sluice …`);
    rss.takePeaksMb();
    const record = await loadSluice(node, layout.dataset, summary, options, log);
    record.peak_rss_mb = rss.takePeaksMb();
    manifest.sluice = record;
    writeManifest(layout.manifest, manifest);
    log(`  sluice: ${record.events_per_s.toLocaleString()} events/s, ${record.seconds} s to all searchable`);
  } else {
    const count = await waitSearchable(node, summary, 300_000, log);
    log(`  sluice already holds the dataset (${count.toLocaleString()} events searchable in its window)`);
  }

  let clickhouse: ClickHouseServer | undefined;
  let clickhouseVersion: string | undefined;
  if (options.clickhouse) {
    if (!manifest.clickhouse) rmSync(layout.clickhouse, { recursive: true, force: true });
    log("starting clickhouse-server …");
    clickhouse = await startClickHouse(layout.clickhouse, children);
    rss.watch("clickhouse-server", clickhouse.pid);
    clickhouseVersion = (await clickhouseQuery(clickhouse.httpUrl, "SELECT version()")).trim();
    if (manifest.clickhouse) {
      // A view added to schema.sql since the load is created now, filled from the loaded rows (POPULATE).
      const started = performance.now();
      await createSchema(clickhouse.httpUrl);
      log(`  clickhouse already holds the dataset; schema checked in ${Math.round(performance.now() - started)} ms`);
    }
    if (!manifest.clickhouse) {
      log(`loading ${summary.events.toLocaleString()} events into ClickHouse ${clickhouseVersion} …`);
      rss.takePeaksMb();
      const record = await loadClickHouse(clickhouse, layout.dataset, summary, log);
      record.peak_rss_mb = rss.takePeaksMb();
      manifest.clickhouse = record;
      writeManifest(layout.manifest, manifest);
      log(`  clickhouse: ${record.events_per_s.toLocaleString()} rows/s, ${record.seconds} s`);
    }
  }
  if (options.deleteDatasetFiles && manifest.sluice && (!options.clickhouse || manifest.clickhouse)) {
    for (let chunk = 0; chunk < summary.chunks; chunk++) for (const path of Object.values(chunkFiles(layout.dataset, chunk))) rmSync(path, { force: true });
  }

  log("checking the loaded window on both systems …");
  const verification = await verifyLoaded(node, clickhouse, summary);
  for (const problem of verification) log(`  MISMATCH ${problem}`);
  const settled = await settle(node, clickhouse, options.settleSeconds, log);

  const kinds: KindStats[] = QUERY_KINDS.map((kind) => ({ kind, sluice: newSystemStats(), clickhouse: newSystemStats() }));
  const servers = { node, clickhouse };
  const phases: PhaseFigures[] = [];
  if (options.interleave || !clickhouse) {
    phases.push(await runPhase(kinds, { node, clickhouse }, { sluice: node, clickhouse: options.clickhouseLive ? clickhouse : undefined }, servers, rss, summary, options, log));
  } else {
    // Each system queried under its own live ingest while the other idles: neither pays for the other's work.
    phases.push(await runPhase(kinds, { node }, { sluice: node }, servers, rss, summary, options, log));
    phases.push(await runPhase(kinds, { clickhouse }, { clickhouse: options.clickhouseLive ? clickhouse : undefined }, servers, rss, summary, options, log));
  }
  rss.stop();
  const sluicePhase = phases[0];
  const clickhousePhase = phases[phases.length - 1];

  const health = await getJson(node.httpUrl, "/api/v1/system/health");
  const clickhouseParts = clickhouse ? await clickhouseStorage(clickhouse.httpUrl) : undefined;
  const figures = {
    events: summary.events,
    seed: summary.seed,
    end: iso(summary.end_us),
    data_dir: options.dataDir,
    clickhouse_version: clickhouseVersion,
    load: { sluice: manifest.sluice, clickhouse: manifest.clickhouse },
    loaded_window_check: verification.length === 0 ? "exact" : verification,
    settle: settled,
    mode: phases.length > 1 ? "sequential: Sluice queried under its live ingest, then ClickHouse under its own" : clickhouse ? "interleaved: both queried in turn, both ingesting" : "Sluice only",
    live_target_events_per_s: options.ingestRate,
    query_gap_ms: options.queryGapMs,
    phases,
    measured: {
      sluice_live_events_per_s: sluicePhase.live_sluice_events_per_s,
      clickhouse_live_rows_per_s: clickhousePhase.live_clickhouse_rows_per_s,
      peak_rss_mb: { node: sluicePhase.peak_rss_mb.node, "nats-server": sluicePhase.peak_rss_mb["nats-server"], "clickhouse-server": clickhousePhase.peak_rss_mb["clickhouse-server"] },
      cpu_seconds: { node: sluicePhase.cpu_seconds.node, "nats-server": sluicePhase.cpu_seconds["nats-server"], "clickhouse-server": clickhousePhase.cpu_seconds["clickhouse-server"] },
    },
    disk: {
      sluice_total: directoryBytes(layout.sluice),
      sluice_segments: Number(health.storage_utilization?.segment_bytes ?? 0),
      sluice_nats: directoryBytes(join(layout.sluice, "nats")),
      clickhouse_total: clickhouse ? directoryBytes(clickhouse.dataDir) : 0,
      clickhouse_logs: clickhouseParts?.tables.logs?.bytes ?? 0,
      clickhouse_trace_index: clickhouseParts?.tables[".inner.logs_trace_hours"]?.bytes ?? 0,
    },
    queries: Object.fromEntries(
      kinds.map((stats) => [
        stats.kind.name,
        {
          title: stats.kind.title,
          goal_p99_ms: stats.kind.goalMs,
          sluice: { ...percentiles(stats.sluice.latency), runs: stats.sluice.runs, failures: stats.sluice.failures, wrong_answers: stats.sluice.wrong, problems: stats.sluice.problems },
          clickhouse: clickhouse ? { ...percentiles(stats.clickhouse.latency), runs: stats.clickhouse.runs, failures: stats.clickhouse.failures, wrong_answers: stats.clickhouse.wrong, problems: stats.clickhouse.problems } : null,
          agreement: clickhouse ? agreement(stats) : null,
        },
      ]),
    ),
  };
  await children.cleanup();
  console.log(JSON.stringify(figures, null, 2));
  console.log(`\n${reportTable(kinds, figures, clickhouse !== undefined)}\n`);
  for (const stats of kinds) {
    for (const [system, systemStats] of [["Sluice", stats.sluice], ["ClickHouse", stats.clickhouse]] as const) {
      for (const problem of systemStats.problems) console.log(`- ${system} ${stats.kind.name}: ${problem}`);
    }
  }
  if (options.json) writeFileSync(options.json, JSON.stringify(figures, null, 2));
  process.exit(0);
}

if (isMainThread) await main();
else await liveWorker(workerData as LiveWorkerData);
