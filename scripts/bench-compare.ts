// Ingest comparison (not a test): one command, one process tree, one run, the same
// generated events for every system, one after another on this machine:
//
//   - Sluice over NATS with the SDK (FlatBuffers), Sluice over NATS with the SDK (NDJSON),
//     Sluice over HTTP (NDJSON bodies): each a fresh node with its own nats-server;
//   - ClickHouse (Debian's clickhouse-server, a child on loopback): a MergeTree table
//     ordered by service and time, JSONEachRow INSERTs over HTTP;
//   - PostgreSQL (Debian's, a throwaway cluster): the seed's naive `logs` table and its
//     indexes, COPY.
//
// Each system runs a full-speed phase (at least --seconds and --events, at most
// --seconds-max), then each Sluice path a phase capped at half the rate it sustained,
// for the latency goals. Prints one markdown table (Sluice's figures also as ratios to
// ClickHouse's), the issue's goals checked, and a line per system; --json writes
// everything, per-5 s windows included. Progress goes to stderr.
//
//   bun scripts/bench-compare.ts [--quick] [--seconds 60] [--events 30000000] [--systems sdk-flatbuffers,clickhouse] [--json out.json]

import { rmSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import cac from "cac";
import { Children } from "./bench-lib.ts";
import { LoadGenerator } from "./bench-compare/load.ts";
import { isSluice, SYSTEM_LABELS, SYSTEMS, type SystemName } from "./bench-compare/load-messages.ts";
import { DEFAULTS, OptionsError, parseCompareOptions, type CompareOptions } from "./bench-compare/options.ts";
import { runPhase } from "./bench-compare/phase.ts";
import { checkGoals, formatCompactLine, formatCpuLine, formatGoals, formatTable, type SystemResult } from "./bench-compare/report.ts";
import { startSystem } from "./bench-compare/systems.ts";

const cli = cac("bench-compare");
cli.option("--quick", "every system end to end in under a minute (3 s phases, a small pool): for development");
cli.option("--seconds <n>", `full-speed phase: at least this long (default ${DEFAULTS.seconds})`);
cli.option("--events <n>", `... and until this many events are acked (default ${DEFAULTS.events.toLocaleString("en-US")}; 0: by time alone)`);
cli.option("--seconds-max <n>", `... but at most this long; a slower system then runs by time (default ${DEFAULTS.secondsMax})`);
cli.option("--half-seconds <n>", `each Sluice path's phase at half its sustained rate, for the latency goals; 0 skips it (default ${DEFAULTS.halfSeconds})`);
cli.option("--settle-seconds <n>", `longest wait after the full-speed phase for seals, compactions and merges before disk is measured (default ${DEFAULTS.settleSeconds})`);
cli.option("--systems <list>", `comma-separated subset of ${SYSTEMS.join(",")} (default all)`);
cli.option("--pool-events <n>", `distinct events cycled through, the same for every system (default ${DEFAULTS.poolEvents.toLocaleString("en-US")})`);
cli.option("--producers <n>", `load-generator threads per system (default ${DEFAULTS.producers})`);
cli.option("--shards <n>", `Sluice node shards (default ${DEFAULTS.shards})`);
cli.option("--sdk-inflight <n>", `SDK batches in flight per logger (default ${DEFAULTS.sdkInFlight}, the SDK's)`);
cli.option("--http-batch <n>", `events per HTTP body (default ${DEFAULTS.httpEventsPerBody})`);
cli.option("--http-inflight <n>", `HTTP requests in flight (default ${DEFAULTS.httpInFlight})`);
cli.option("--http-gzip", "gzip HTTP bodies (level 1, on the load generator)");
cli.option("--clickhouse-batch <n>", `rows per ClickHouse INSERT (default ${DEFAULTS.clickhouseRowsPerInsert.toLocaleString("en-US")})`);
cli.option("--clickhouse-inflight <n>", `ClickHouse INSERTs in flight (default ${DEFAULTS.clickhouseInFlight})`);
cli.option("--postgres-batch <n>", `rows per PostgreSQL COPY (default ${DEFAULTS.postgresRowsPerCopy.toLocaleString("en-US")})`);
cli.option("--postgres-inflight <n>", `PostgreSQL COPYs in flight, one connection each (default ${DEFAULTS.postgresInFlight})`);
cli.option("--probe-interval-ms <n>", `one ingest-to-searchable probe every this many ms (default ${DEFAULTS.probeIntervalMs})`);
cli.option("--seed <n>", `event generator seed (default ${DEFAULTS.seed})`);
cli.option("--json <file>", "also write every figure, per-5 s windows included, as JSON");
cli.option("--node-prof <dir>", "run each Sluice node under Bun's CPU profiler (.cpuprofile written to this directory on exit); figures are slower under it");
cli.help();
const raw = cli.parse().options;
if (raw.help) process.exit(0);

let options: Readonly<CompareOptions>;
try {
  // cac names --http-batch httpBatch; the options name what the figure is.
  options = parseCompareOptions({ ...raw, httpEventsPerBody: raw.httpBatch, clickhouseRowsPerInsert: raw.clickhouseBatch, postgresRowsPerCopy: raw.postgresBatch, sdkInFlight: raw.sdkInflight, httpInFlight: raw.httpInflight, clickhouseInFlight: raw.clickhouseInflight, postgresInFlight: raw.postgresInflight });
} catch (error) {
  if (!(error instanceof OptionsError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const log = (line: string) => console.error(line);
const children = new Children(log);
const runStarted = performance.now();
const results: SystemResult[] = [];
const failures: { system: SystemName; error: string }[] = [];
const versions: Record<string, string> = {};

/** Both phases of one system; its server is stopped (and its data removed) whatever happens. */
async function runSystem(system: SystemName): Promise<SystemResult> {
  const label = SYSTEM_LABELS[system];
  log(`== ${label}: starting the server …`);
  const sut = await startSystem(system, options, children);
  versions[system] = sut.version;
  let generator: LoadGenerator | undefined;
  let result: SystemResult;
  try {
    generator = await LoadGenerator.start({ target: sut.target, threads: options.producers, poolEvents: options.poolEvents, seed: options.seed });
    log(`   ${sut.version}; ${generator.prepared.events.toLocaleString()} pool events ready (${generator.prepared.seconds} s to make and encode); full speed for ${options.seconds}-${options.secondsMax} s, ${options.events.toLocaleString()} events …`);
    const max = await runPhase(sut, generator, { kind: "max", rate: 0, minSeconds: options.seconds, maxSeconds: options.secondsMax, eventsTarget: options.events, probeIntervalMs: options.probeIntervalMs }, log);
    const settled = await sut.settle(options.settleSeconds);
    max.disk = await sut.disk();
    log(`   ${max.sustained_events_per_s.toLocaleString()} events/s sustained; settled ${JSON.stringify(settled)}; ${max.disk.bytes_per_event} bytes/event on disk`);
    const notes: string[] = [];
    if (max.ran_by_time) notes.push(`ran by time: ${max.events_acked.toLocaleString()} of ${options.events.toLocaleString()} events in ${options.secondsMax} s`);
    let half;
    if (isSluice(system) && options.halfSeconds > 0) {
      const rate = Math.round(max.sustained_events_per_s / 2);
      log(`   at 50% load: ${rate.toLocaleString()} events/s for ${options.halfSeconds} s …`);
      half = await runPhase(sut, generator, { kind: "half", rate, minSeconds: options.halfSeconds, maxSeconds: options.halfSeconds, eventsTarget: 0, probeIntervalMs: options.probeIntervalMs }, log);
    }
    if (max.dropped > 0 || (half?.dropped ?? 0) > 0) notes.push(`the SDK dropped ${max.dropped + (half?.dropped ?? 0)} events`);
    result = { system, label, max, half, notes };
    log(`   ${formatCompactLine(result)}`);
  } catch (error) {
    if (sut.logPath) log(`   the server's log is kept at ${sut.logPath}`);
    throw error;
  } finally {
    // Threads and server go whatever happened, so the next system has the machine to itself.
    await generator?.close().catch((error: unknown) => log(`   closing the load generators failed: ${error}`));
    await sut.stop();
  }
  if (sut.logPath) rmSync(sut.logPath, { force: true });
  return result;
}

for (const system of options.systems) {
  try {
    results.push(await runSystem(system));
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`!! ${SYSTEM_LABELS[system]} failed: ${message}`);
    failures.push({ system, error: message });
  }
}
await children.cleanup();

const goals = checkGoals(results);
const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? "?", memory_gb: Math.round(totalmem() / 2 ** 30) };
const heading = `Ingest comparison, ${machine.cores} cores (${machine.cpu}), ${machine.memory_gb} GB; everything on this machine, load generators included (${options.producers} thread${options.producers > 1 ? "s" : ""} per system); ${options.quick ? "QUICK run (figures mean little)" : `full speed for ${options.seconds}-${options.secondsMax} s and ${options.events.toLocaleString("en-US")} events per system, 50% load for ${options.halfSeconds} s`}.`;
const table = formatTable(results);
console.log(`${heading}\n\n${table}\n\nGoals:\n\n${formatGoals(goals)}\n`);
for (const result of results) console.log(`- ${formatCompactLine(result)}${result.notes.length > 0 ? ` (${result.notes.join("; ")})` : ""}`);
for (const failure of failures) console.log(`- ${SYSTEM_LABELS[failure.system]}: FAILED (${failure.error.split("\n")[0]})`);
console.log("\nWhere the CPU went (full-speed phase, first byte to last queryable):\n");
for (const result of results) console.log(`- ${formatCpuLine(result)}`);
console.log(`\n${[...new Set(Object.values(versions))].join("; ")}. Total ${Math.round((performance.now() - runStarted) / 1000)} s.`);
if (options.json) await Bun.write(options.json, JSON.stringify({ options, machine, versions, results, goals, failures, table }, null, 2));
process.exit(failures.length > 0 ? 1 : 0);
