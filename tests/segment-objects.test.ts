// Segment files through the segment store (a JetStream object store) on a real
// nats-server: a file of several chunks comes back byte for byte, a missing object
// is an error only when required, and a download never leaves its temporary file.

import { beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { ClusterBuckets } from "../src/cluster/buckets.ts";
import { bucketsServerForFile } from "./helpers/cluster.ts";
import { downloadObject, uploadFile } from "../src/cluster/segment-objects.ts";
import { tempDir } from "./helpers/processes.ts";

const server = bucketsServerForFile();
let buckets: ClusterBuckets;
let jsm: JetStreamManager;
beforeAll(() => {
  ({ buckets, jsm } = server());
});

test("a file of several chunks comes back byte for byte; uploading again replaces it; an empty file too", async () => {
  const dir = tempDir("segment-objects").path;
  const source = join(dir, "source.bin");
  // 300 kB: three of the object store's 128 KiB chunks, with bytes that differ per position.
  const content = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
  writeFileSync(source, content);
  await uploadFile(buckets.segments!, "shard-001/e1/seg-1.parquet", source);
  const target = join(dir, "target.bin");
  await downloadObject({ store: buckets.segments!, jsm }, "shard-001/e1/seg-1.parquet", target, true);
  expect(Buffer.compare(readFileSync(target), content)).toBe(0);
  expect(existsSync(`${target}.tmp`)).toBe(false);

  writeFileSync(source, "short now");
  await uploadFile(buckets.segments!, "shard-001/e1/seg-1.parquet", source);
  await downloadObject({ store: buckets.segments!, jsm }, "shard-001/e1/seg-1.parquet", target, true);
  expect(readFileSync(target, "utf8")).toBe("short now");

  writeFileSync(source, "");
  await uploadFile(buckets.segments!, "shard-001/e1/empty", source);
  await downloadObject({ store: buckets.segments!, jsm }, "shard-001/e1/empty", target, true);
  expect(readFileSync(target, "utf8")).toBe("");
});

test("a missing object: an error naming it when required, else the local file goes", async () => {
  const dir = tempDir("segment-objects-missing").path;
  const target = join(dir, "index.skip");
  writeFileSync(target, "stale");
  await expect(downloadObject({ store: buckets.segments!, jsm }, "shard-002/e1/nothing.parquet", target, true)).rejects.toThrow("segment object shard-002/e1/nothing.parquet is missing");
  expect(readFileSync(target, "utf8")).toBe("stale");
  await downloadObject({ store: buckets.segments!, jsm }, "shard-002/e1/nothing.parquet.skip", target, false);
  expect(existsSync(target)).toBe(false);
});
