// Seed-shaped benchmark dataset: a deterministic generator of log events (same seed and
// end time, same events) for the query benchmark (scripts/bench-query.ts) and anyone
// who needs realistic volume. Events are spread evenly over [end - 24 h, end) in
// event-time order with a little jitter; a few hundred services with Zipf-like
// popularity, each on its own few-to-dozens of hosts (thousands in all); traces of 1-8
// events, mostly in one service, interleaved as concurrent requests are; messages
// filled in from templates derived from the Loghub samples (scripts/data/
// loghub-templates.json, rebuilt by the `templates` command); and planted needles: a
// handful of made-up "rare words" each inside a known number of normal messages.
//
//   bun scripts/gen-dataset.ts stats --events 2000000            # generate, report speed and cardinalities
//   bun scripts/gen-dataset.ts tsv --events 2000000 --end 2026-11-21T00:00:00Z > events.tsv
//   bun scripts/gen-dataset.ts templates [--loghub-dir tests/fixtures/loghub]
//
// The generator's parts are in scripts/gen-dataset/ (random numbers, templates, catalog,
// events, the dataset, its files); this file is their command line and public surface.

import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { Dataset, DATASET_SPAN_US, type DatasetOptions } from "./gen-dataset/dataset.ts";
import { isChunkDone, writeChunk, writeDataset } from "./gen-dataset/files.ts";
import { deriveTemplates, TEMPLATES_PATH } from "./gen-dataset/templates.ts";
import { toTsv } from "./gen-dataset/tsv.ts";

export { buildCatalog, SERVICE_COUNT, type Catalog } from "./gen-dataset/catalog.ts";
export { BATCH_EVENTS, CHUNK_EVENTS, chunkEventCount, Dataset, DATASET_SPAN_US, JITTER_US_MAX, liveEvents, NEEDLE_COUNT_MAX, NEEDLE_COUNT_MIN, type DatasetOptions, type Needle } from "./gen-dataset/dataset.ts";
export { EventFactory, type TraceSample } from "./gen-dataset/events.ts";
export { chunkFiles, datasetSummaryPath, readFlatbuffersChunk, readTsvChunk, writeChunk, writeDataset, type DatasetSummary, type WriteDatasetOptions } from "./gen-dataset/files.ts";
export { deriveTemplates, loadTemplates, TEMPLATES_PATH, templatesForLevel, type Template, type TemplateFile } from "./gen-dataset/templates.ts";
export { toTsv, TSV_COLUMNS } from "./gen-dataset/tsv.ts";

const ROOT = resolve(import.meta.dir, "..");

/** `--end` as microseconds: RFC 3339, or epoch microseconds; default now, floored to the minute. */
export function parseEndUs(raw: unknown): number {
  if (raw === undefined || raw === "") return Math.floor(Date.now() / 60_000) * 60_000 * 1000;
  const text = String(raw);
  const endUs = /^\d+$/.test(text) ? Number(text) : Date.parse(text) * 1000;
  if (!Number.isSafeInteger(endUs) || endUs < DATASET_SPAN_US) throw new Error(`--end: ${JSON.stringify(text)} is not an RFC 3339 time or epoch microseconds`);
  return endUs;
}

async function main(): Promise<void> {
  const { default: cac } = await import("cac");
  const cli = cac("gen-dataset");
  const dataOptions = (command: ReturnType<typeof cli.command>) =>
    command.option("--events <n>", "events", { default: 2_000_000 }).option("--seed <n>", "PRNG seed", { default: 1 }).option("--end <time>", "end of the 24 h window (RFC 3339 or epoch µs); default now, floored to the minute");
  const datasetOptions = (options: Record<string, unknown>): DatasetOptions => ({ events: Number(options.events), seed: Number(options.seed), endUs: parseEndUs(options.end) });
  cli.command("templates", "rebuild scripts/data/loghub-templates.json from the Loghub samples").option("--loghub-dir <dir>", "the samples", { default: join(ROOT, "tests/fixtures/loghub") }).action((options) => {
    const file = deriveTemplates(String(options.loghubDir));
    writeFileSync(TEMPLATES_PATH, `${JSON.stringify(file)}\n`);
    console.error(`${file.templates.length} templates, ${file.paths.length} paths -> ${TEMPLATES_PATH}`);
  });
  dataOptions(cli.command("stats", "generate the events in memory; report speed, cardinalities and needles")).action((options) => {
    const dataset = new Dataset(datasetOptions(options));
    const started = performance.now();
    const services = new Set<string>();
    const hosts = new Set<string>();
    const traces = new Set<string>();
    const levels: Record<string, number> = {};
    let count = 0;
    let chars = 0;
    for (const batch of dataset.batches()) {
      for (const event of batch) {
        services.add(event.service);
        hosts.add(event.hostname);
        if (traces.size < 1_000_000) traces.add(event.traceId);
        levels[event.level] = (levels[event.level] ?? 0) + 1;
        chars += event.message.length;
      }
      count += batch.length;
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(JSON.stringify({ events: count, events_per_s: Math.round(count / seconds), services: services.size, hosts: hosts.size, traces_in_first_million: traces.size, levels, message_chars_mean: Math.round(chars / count), needles: dataset.needles, trace_samples: dataset.traceSamples.length, first_trace: dataset.traceSamples[0] }, null, 2));
  });
  dataOptions(cli.command("tsv", "write the events as ClickHouse TabSeparated rows to stdout")).action(async (options) => {
    const writer = Bun.stdout.writer();
    for (const batch of new Dataset(datasetOptions(options)).batches()) {
      writer.write(toTsv(batch));
      await writer.flush();
    }
    await writer.end();
  });
  dataOptions(cli.command("write", "make the dataset files (FlatBuffers batches and TSV, zstd, per chunk) in --out"))
    .option("--out <dir>", "directory of the dataset files")
    .option("--jobs <n>", "processes making chunks at once", { default: 2 })
    .action(async (options) => {
      if (!options.out) throw new Error("--out is required");
      const summary = await writeDataset(resolve(String(options.out)), datasetOptions(options), { jobs: Number(options.jobs) });
      console.log(JSON.stringify({ events: summary.events, end_us: summary.end_us, needles: summary.needles, trace_samples: summary.trace_samples.length }));
    });
  // Internal: one of writeDataset's workers, making every chunk c with c % of == index.
  dataOptions(cli.command("write-chunks", ""))
    .option("--out <dir>", "")
    .option("--worker <index/of>", "")
    .action((options) => {
      const [index, of] = String(options.worker).split("/").map(Number);
      const dataset = new Dataset(datasetOptions(options));
      for (let chunk = index; chunk < dataset.chunks; chunk += of) {
        if (!isChunkDone(String(options.out), chunk, dataset.options)) writeChunk(dataset, chunk, String(options.out));
      }
    });
  cli.help();
  cli.parse();
  if (!cli.matchedCommand && !cli.options.help) cli.outputHelp();
}

if (import.meta.main) await main();
