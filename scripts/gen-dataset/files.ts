// Dataset files: per chunk, the FlatBuffers WAL batches as Sluice takes them (each
// preceded by its length, u32 little-endian) and the same events as ClickHouse
// TabSeparated rows, both zstd-compressed, and a summary written last (its presence
// says the chunk is complete); dataset.json merges the summaries. Making the events
// once, ahead of the load, keeps generation out of the load figures.

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { encodeBatch } from "../../src/protocol/wal-batch.ts";
import { MINUTE_US } from "../../src/storage/minute-counts.ts";
import { CHUNK_EVENTS, chunkEventCount, DATASET_SPAN_US, Dataset, type DatasetOptions, type Needle } from "./dataset.ts";
import type { TraceSample } from "./events.ts";
import { toTsv } from "./tsv.ts";

/** The script whose internal `write-chunks` command makes chunks, one child process per job. */
const GEN_DATASET_SCRIPT = join(import.meta.dir, "../gen-dataset.ts");
/** Version of the dataset file layout; a directory of another version is made again. */
const DATASET_FILES_VERSION = 1;
/** Minutes in the dataset's window: expected counts are kept per minute. */
const WINDOW_MINUTES = DATASET_SPAN_US / MINUTE_US;
/** zstd level of the chunk files: fast to make, ~4x smaller. */
const ZSTD_LEVEL = 3;

/** What a chunk (or, merged, the whole dataset) holds, for checking answers. */
export interface DatasetSummary {
  version: number;
  events: number;
  seed: number;
  end_us: number;
  start_us: number;
  chunks: number;
  needles: Needle[];
  trace_samples: TraceSample[];
  /** Services, most popular first. */
  services: string[];
  /** service -> level -> events. */
  counts_by_service_level: Record<string, Record<string, number>>;
  /** Events per minute of the window, from start_us (index 0) on. */
  counts_per_minute: number[];
  flatbuffers_bytes: number;
  tsv_bytes: number;
}

export function chunkFiles(dir: string, chunk: number): { flatbuffers: string; tsv: string; summary: string } {
  const base = join(dir, `chunk-${String(chunk).padStart(5, "0")}`);
  return { flatbuffers: `${base}.fb.zst`, tsv: `${base}.tsv.zst`, summary: `${base}.json` };
}

export const datasetSummaryPath = (dir: string) => join(dir, "dataset.json");

function sameDataset(summary: Pick<DatasetSummary, "version" | "events" | "seed" | "end_us">, options: DatasetOptions): boolean {
  return summary.version === DATASET_FILES_VERSION && summary.events === options.events && summary.seed === options.seed && summary.end_us === options.endUs;
}

function readJson<T>(path: string): T | undefined {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as T) : undefined;
}

/** Makes one chunk's files (temporary names, renamed into place, summary last). */
export function writeChunk(dataset: Dataset, chunk: number, dir: string): DatasetSummary {
  const files = chunkFiles(dir, chunk);
  const frames: Uint8Array[] = [];
  let tsv = "";
  const counts: Record<string, Record<string, number>> = {};
  const perMinute = new Array<number>(WINDOW_MINUTES).fill(0);
  const samplesBefore = dataset.traceSamples.length;
  let events = 0;
  for (const batch of dataset.chunkBatches(chunk)) {
    const bytes = encodeBatch(batch);
    const length = new Uint8Array(4);
    new DataView(length.buffer).setUint32(0, bytes.length, true);
    frames.push(length, bytes);
    tsv += toTsv(batch);
    for (const event of batch) {
      const byLevel = (counts[event.service] ??= {});
      byLevel[event.level] = (byLevel[event.level] ?? 0) + 1;
      perMinute[Math.floor((event.timestampUs - dataset.startUs) / MINUTE_US)]++;
    }
    events += batch.length;
  }
  const flatbuffers = Bun.zstdCompressSync(Buffer.concat(frames), { level: ZSTD_LEVEL });
  const rows = Bun.zstdCompressSync(Buffer.from(tsv), { level: ZSTD_LEVEL });
  writeFileSync(`${files.flatbuffers}.tmp`, flatbuffers);
  renameSync(`${files.flatbuffers}.tmp`, files.flatbuffers);
  writeFileSync(`${files.tsv}.tmp`, rows);
  renameSync(`${files.tsv}.tmp`, files.tsv);
  const summary: DatasetSummary = {
    version: DATASET_FILES_VERSION,
    events,
    seed: dataset.options.seed,
    end_us: dataset.options.endUs,
    start_us: dataset.startUs,
    chunks: 1,
    needles: [],
    trace_samples: dataset.traceSamples.slice(samplesBefore),
    services: [],
    counts_by_service_level: counts,
    counts_per_minute: perMinute,
    flatbuffers_bytes: flatbuffers.length,
    tsv_bytes: rows.length,
  };
  writeFileSync(`${files.summary}.tmp`, JSON.stringify(summary));
  renameSync(`${files.summary}.tmp`, files.summary);
  return summary;
}

export interface WriteDatasetOptions {
  /** Processes making chunks at once (default 2: the development machine's cores). */
  jobs?: number;
  log?: (line: string) => void;
  /** Each child process is added here (Children.add), so a caller's cleanup can end it while it runs. */
  children?: { add(child: Subprocess): unknown };
}

/**
 * Makes (or finds already made) the dataset's files in `dir`, chunks in parallel
 * child processes, with progress every 5 s; returns the merged summary (dataset.json).
 */
export async function writeDataset(dir: string, options: DatasetOptions, writeOptions: WriteDatasetOptions = {}): Promise<DatasetSummary> {
  const known = readJson<DatasetSummary>(datasetSummaryPath(dir));
  const filesPresent = (chunks: number) => Array.from({ length: chunks }, (_, chunk) => chunkFiles(dir, chunk)).every((files) => existsSync(files.flatbuffers) && existsSync(files.tsv));
  // dataset.json outlives the chunk files (--delete-dataset-files): missing chunks are made again.
  if (known && sameDataset(known, options) && filesPresent(known.chunks)) return known;
  mkdirSync(dir, { recursive: true });
  const dataset = new Dataset(options);
  const log = writeOptions.log ?? ((line: string) => console.error(line));
  const jobs = Math.max(1, writeOptions.jobs ?? 2);
  const started = performance.now();
  // A chunk once done stays done (workers skip it), so each check reads only the summaries of chunks not yet seen done.
  const doneChunks = new Set<number>();
  const done = () => {
    for (let chunk = 0; chunk < dataset.chunks; chunk++) if (!doneChunks.has(chunk) && isChunkDone(dir, chunk, options)) doneChunks.add(chunk);
    return doneChunks.size;
  };
  const doneAtStart = done();
  const workers = Array.from({ length: jobs }, (_, worker) =>
    Bun.spawn([process.execPath, GEN_DATASET_SCRIPT, "write-chunks", "--out", dir, "--events", String(options.events), "--seed", String(options.seed), "--end", String(options.endUs), "--worker", `${worker}/${jobs}`], { stdout: "inherit", stderr: "inherit" }),
  );
  for (const worker of workers) writeOptions.children?.add(worker);
  const progress = setInterval(() => {
    const chunks = done();
    const seconds = (performance.now() - started) / 1000;
    const rate = ((chunks - doneAtStart) * CHUNK_EVENTS) / seconds;
    log(`  generated ${Math.min(options.events, chunks * CHUNK_EVENTS).toLocaleString()} / ${options.events.toLocaleString()} events, ${Math.round(rate).toLocaleString()} events/s, ETA ${rate > 0 ? Math.round(((dataset.chunks - chunks) * CHUNK_EVENTS) / rate) : "?"} s`);
  }, 5000);
  try {
    const codes = await Promise.all(workers.map((worker) => worker.exited));
    if (codes.some((code) => code !== 0)) throw new Error(`dataset generation failed: worker exit codes ${codes.join(", ")}`);
  } finally {
    clearInterval(progress);
  }
  const summary = mergeSummaries(dir, dataset);
  writeFileSync(datasetSummaryPath(dir), JSON.stringify(summary));
  log(`  dataset: ${summary.events.toLocaleString()} events in ${Math.round((performance.now() - started) / 1000)} s, ${Math.round(summary.flatbuffers_bytes / 2 ** 20)} MB FlatBuffers + ${Math.round(summary.tsv_bytes / 2 ** 20)} MB TSV (zstd) in ${dir}`);
  return summary;
}

export function isChunkDone(dir: string, chunk: number, options: DatasetOptions): boolean {
  const files = chunkFiles(dir, chunk);
  if (!existsSync(files.flatbuffers) || !existsSync(files.tsv)) return false;
  const summary = readJson<DatasetSummary>(files.summary);
  // A chunk's summary counts the chunk's own events.
  return summary !== undefined && summary.chunks === 1 && sameDataset(summary, { ...options, events: chunkEventCount(options.events, chunk) });
}

function mergeSummaries(dir: string, dataset: Dataset): DatasetSummary {
  const merged: DatasetSummary = {
    version: DATASET_FILES_VERSION,
    events: 0,
    seed: dataset.options.seed,
    end_us: dataset.options.endUs,
    start_us: dataset.startUs,
    chunks: dataset.chunks,
    needles: dataset.needles,
    trace_samples: [],
    services: dataset.catalog.services,
    counts_by_service_level: {},
    counts_per_minute: new Array<number>(WINDOW_MINUTES).fill(0),
    flatbuffers_bytes: 0,
    tsv_bytes: 0,
  };
  for (let chunk = 0; chunk < dataset.chunks; chunk++) {
    const summary = readJson<DatasetSummary>(chunkFiles(dir, chunk).summary);
    if (!summary) throw new Error(`chunk ${chunk} of ${dir} is missing`);
    merged.events += summary.events;
    merged.trace_samples.push(...summary.trace_samples);
    for (const [service, byLevel] of Object.entries(summary.counts_by_service_level)) {
      const into = (merged.counts_by_service_level[service] ??= {});
      for (const [level, count] of Object.entries(byLevel)) into[level] = (into[level] ?? 0) + count;
    }
    summary.counts_per_minute.forEach((count, minute) => (merged.counts_per_minute[minute] += count));
    merged.flatbuffers_bytes += summary.flatbuffers_bytes;
    merged.tsv_bytes += summary.tsv_bytes;
  }
  if (merged.events !== dataset.options.events) throw new Error(`chunks of ${dir} hold ${merged.events} events, not ${dataset.options.events}`);
  return merged;
}

/** One chunk's WAL batches (FlatBuffers, as encodeBatch made them). */
export async function readFlatbuffersChunk(dir: string, chunk: number): Promise<Uint8Array[]> {
  const bytes = new Uint8Array(await Bun.zstdDecompress(await Bun.file(chunkFiles(dir, chunk).flatbuffers).bytes()));
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const batches: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const length = view.getUint32(at, true);
    if (at + 4 + length > bytes.length) throw new Error(`chunk ${chunk} of ${dir} is truncated at byte ${at}`);
    batches.push(bytes.subarray(at + 4, at + 4 + length));
    at += 4 + length;
  }
  return batches;
}

/** One chunk's TabSeparated rows. */
export async function readTsvChunk(dir: string, chunk: number): Promise<Uint8Array> {
  return new Uint8Array(await Bun.zstdDecompress(await Bun.file(chunkFiles(dir, chunk).tsv).bytes()));
}
