// Query benchmark (not a test): the five queries over a seed-shaped dataset of
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
// Its parts are in scripts/bench-query/: options, the data dir's manifest, loading,
// the checks before measuring, the queries, live ingest, the measured phase, the report.
//
//   bun scripts/bench-query.ts --events 2000000 --data-dir /tmp/sluice-bench-query --seconds 60

import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Children, directoryBytes, getJson, RssSampler, startSluiceNode, type SluiceNode } from "./bench-lib.ts";
import { clickhouseQuery, clickhouseStorage, createSchema, startClickHouse, type ClickHouseServer } from "./clickhouse/server.ts";
import { chunkFiles, datasetSummaryPath, parseEndUs, writeDataset, type DatasetSummary } from "./gen-dataset.ts";
import { settle, verifyLoaded } from "./bench-query/checks.ts";
import { loadClickHouse, loadSluice, waitSearchable } from "./bench-query/load.ts";
import { dataDirLayout, MANIFEST_VERSION, readManifest, writeManifest, type Manifest } from "./bench-query/manifest.ts";
import { parseBenchOptions, type BenchOptions } from "./bench-query/options.ts";
import { newSystemStats, runPhase, type KindStats, type PhaseFigures } from "./bench-query/phase.ts";
import { iso, QUERY_KINDS } from "./bench-query/queries.ts";
import { queryFigures, reportTable } from "./bench-query/report.ts";

/** What starting and loading a system needs: the run's options, its data dir and what it holds, and the run's memory sampler and children. */
interface Setup {
  options: BenchOptions;
  layout: ReturnType<typeof dataDirLayout>;
  manifest: Manifest;
  summary: DatasetSummary;
  rss: RssSampler;
  children: Children;
  log: (line: string) => void;
}

/** Starts the Sluice node on the data dir and loads the dataset into it, unless the manifest says it holds it already. */
async function startLoadedSluice({ options, layout, manifest, summary, rss, children, log }: Setup): Promise<SluiceNode> {
  if (!manifest.sluice) rmSync(layout.sluice, { recursive: true, force: true });
  mkdirSync(layout.sluice, { recursive: true });
  log("starting the Sluice node …");
  const node = await startSluiceNode({ dataDir: layout.sluice, shards: options.shards, logPath: layout.nodeLog, children, runtimeArgs: options.nodeProf ? ["--cpu-prof", `--cpu-prof-dir=${options.nodeProf}`] : [] });
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
  return node;
}

/** Starts clickhouse-server on the data dir and loads the dataset into it, unless the manifest says it holds it already. */
async function startLoadedClickHouse({ layout, manifest, summary, rss, children, log }: Setup): Promise<{ server: ClickHouseServer; version: string }> {
  if (!manifest.clickhouse) rmSync(layout.clickhouse, { recursive: true, force: true });
  log("starting clickhouse-server …");
  const server = await startClickHouse(layout.clickhouse, children);
  rss.watch("clickhouse-server", server.pid);
  const version = (await clickhouseQuery(server.httpUrl, "SELECT version()")).trim();
  if (manifest.clickhouse) {
    // A view added to schema.sql since the load is created now, filled from the loaded rows (POPULATE).
    const started = performance.now();
    await createSchema(server.httpUrl);
    log(`  clickhouse already holds the dataset; schema checked in ${Math.round(performance.now() - started)} ms`);
  }
  if (!manifest.clickhouse) {
    log(`loading ${summary.events.toLocaleString()} events into ClickHouse ${version} …`);
    rss.takePeaksMb();
    const record = await loadClickHouse(server, layout.dataset, summary, log);
    record.peak_rss_mb = rss.takePeaksMb();
    manifest.clickhouse = record;
    writeManifest(layout.manifest, manifest);
    log(`  clickhouse: ${record.events_per_s.toLocaleString()} rows/s, ${record.seconds} s`);
  }
  return { server, version };
}

async function main(): Promise<void> {
  const options = parseBenchOptions(process.argv);
  const log = (line: string) => console.error(line);
  const children = new Children(log);
  const layout = dataDirLayout(options.dataDir);
  mkdirSync(options.dataDir, { recursive: true });
  let manifest = readManifest(layout.manifest, options);
  const endUs = manifest?.end_us ?? parseEndUs(undefined);
  const needFiles = !manifest?.sluice || (options.clickhouse && !manifest.clickhouse);
  log(`data dir ${options.dataDir}: ${options.events.toLocaleString()} events, seed ${options.seed}, window ending ${iso(endUs)}`);
  const summary: DatasetSummary = needFiles ? await writeDataset(layout.dataset, { events: options.events, seed: options.seed, endUs }, { jobs: options.jobs, log, children }) : JSON.parse(readFileSync(datasetSummaryPath(layout.dataset), "utf8"));
  manifest ??= { version: MANIFEST_VERSION, events: summary.events, seed: summary.seed, end_us: summary.end_us, start_us: summary.start_us, needles: summary.needles, sample_trace_ids: summary.trace_samples.slice(0, 20).map((sample) => sample.trace_id) };
  writeManifest(layout.manifest, manifest);
  const rss = new RssSampler();
  const setup: Setup = { options, layout, manifest, summary, rss, children, log };

  const node = await startLoadedSluice(setup);
  const loaded = options.clickhouse ? await startLoadedClickHouse(setup) : undefined;
  const clickhouse = loaded?.server;
  const clickhouseVersion = loaded?.version;
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
      clickhouse_logs: clickhouseParts?.logs?.bytes ?? 0,
      clickhouse_trace_index: clickhouseParts?.[".inner.logs_trace_hours"]?.bytes ?? 0,
    },
    queries: queryFigures(kinds, clickhouse !== undefined),
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

await main();
