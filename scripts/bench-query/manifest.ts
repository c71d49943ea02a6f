// The manifest: what a data dir holds (the dataset it was made for, and which systems
// are loaded with it), so a rerun with the same --data-dir skips what is done.

import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { DatasetSummary } from "../gen-dataset.ts";
import type { BenchOptions } from "./options.ts";

/** Version of manifest.json; another version means the data dir was made by another layout. */
export const MANIFEST_VERSION = 1;

export interface LoadRecord {
  loaded_at: string;
  events: number;
  seconds: number;
  events_per_s: number;
  [figure: string]: unknown;
}

export interface Manifest {
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

/** Where each part of a data dir lives. */
export const dataDirLayout = (dataDir: string) => ({
  dataset: join(dataDir, "dataset"),
  sluice: join(dataDir, "sluice"),
  clickhouse: join(dataDir, "clickhouse"),
  manifest: join(dataDir, "manifest.json"),
  nodeLog: join(dataDir, "node.log"),
});

export function readManifest(path: string, options: BenchOptions): Manifest | undefined {
  if (!existsSync(path)) return undefined;
  const manifest = JSON.parse(readFileSync(path, "utf8")) as Manifest;
  if (manifest.version !== MANIFEST_VERSION || manifest.events !== options.events || manifest.seed !== options.seed) {
    throw new Error(`${path} describes ${manifest.events} events of seed ${manifest.seed} (version ${manifest.version}), not ${options.events} of seed ${options.seed}: use another --data-dir or remove this one`);
  }
  return manifest;
}

export function writeManifest(path: string, manifest: Manifest): void {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(manifest, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}
