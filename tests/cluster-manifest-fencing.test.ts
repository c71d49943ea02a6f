// The replicated manifest against a real nats-server: a new holder's first write fences
// the former one out (its publish fails, and it cannot load again), and a new holder
// fetches exactly the segment files the published manifest lists.

import { beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { JetStreamManager } from "@nats-io/jetstream";
import type { ClusterBuckets } from "../src/cluster/buckets.ts";
import { bucketsServerForFile } from "./helpers/cluster.ts";
import { FencedError, planShardSync, ReplicatedManifestStore } from "../src/cluster/replicated-manifest.ts";
import { emptyManifest, withSealedSegment, type SegmentMeta } from "../src/storage/manifest.ts";
import { dataPaths, segmentPath, segmentsDir, segmentFileName } from "../src/storage/paths.ts";
import { tempDir } from "./helpers/processes.ts";

const SHARD = 3;
const server = bucketsServerForFile();
let buckets: ClusterBuckets;
let jsm: JetStreamManager;
beforeAll(() => {
  ({ buckets, jsm } = server());
});

function store(dir: string, epoch: number, node: string): ReplicatedManifestStore {
  return new ReplicatedManifestStore({ shard: SHARD, paths: dataPaths(dir), manifests: buckets.manifests!, segments: buckets.segments!, jsm, node, epoch, log: () => undefined });
}

function segment(file: string, bytes: number, seq: number): SegmentMeta {
  return { file, rows: 1, bytes, minTs: 1, maxTs: 2, minSeq: seq, maxSeq: seq, tenants: ["default"], createdAtMs: 0, level: 0 };
}

/** Writes a fake segment file of `content` in the shard's directory. */
function writeSegment(dir: string, file: string, content: string): void {
  mkdirSync(segmentsDir(dataPaths(dir), SHARD), { recursive: true });
  writeFileSync(segmentPath(dataPaths(dir), SHARD, file), content);
}

describe("replicated manifest", () => {
  test("a new holder fetches the published segments, and the former holder can publish nothing more", async () => {
    const oldDir = tempDir("holder-a").path;
    const newDir = tempDir("holder-b").path;
    const a = store(oldDir, 1, "a");
    const first = await a.load();
    expect(first.segments).toEqual([]);
    const file1 = segmentFileName(1);
    writeSegment(oldDir, file1, "segment one");
    const published = withSealedSegment(first, segment(file1, 11, 10), 10);
    await a.publish(published, { added: [file1], removed: [] });

    const b = store(newDir, 2, "b");
    const taken = await b.load();
    expect(taken.segments.map((meta) => meta.file)).toEqual([file1]);
    expect(readFileSync(segmentPath(dataPaths(newDir), SHARD, file1), "utf8")).toBe("segment one");

    // The former holder seals once more: refused, and its file never becomes visible.
    const file2 = segmentFileName(2);
    writeSegment(oldDir, file2, "fenced write");
    await expect(a.publish(withSealedSegment(published, segment(file2, 12, 20), 20), { added: [file2], removed: [] })).rejects.toBeInstanceOf(FencedError);
    await expect(store(oldDir, 1, "a").load()).rejects.toBeInstanceOf(FencedError);
    // Its upload is removed, and it went under its own epoch's name, never over the new holder's.
    expect((await buckets.segments!.info(`shard-003/e1/${file2}`))?.deleted ?? true).toBe(true);

    // The new holder reuses the number 2 for its own segment; a third holder gets the new holder's file, not the fenced one.
    writeSegment(newDir, file2, "the real two");
    await b.publish(withSealedSegment(taken, segment(file2, 12, 20), 20), { added: [file2], removed: [] });
    const c = store(oldDir, 3, "a");
    const third = await c.load();
    expect(third.segments.map((meta) => meta.file)).toEqual([file1, file2]);
    expect(readFileSync(segmentPath(dataPaths(oldDir), SHARD, file2), "utf8")).toBe("the real two");

    // Compaction drops inputs from the object store once the manifest no longer lists them.
    const file3 = segmentFileName(3);
    writeSegment(oldDir, file3, "merged");
    await c.publish({ ...third, nextSegmentNumber: 4, segments: [{ ...segment(file3, 6, 10), maxSeq: 20 }] }, { added: [file3], removed: [file1, file2] });
    expect((await buckets.segments!.info(`shard-003/e1/${file1}`))?.deleted ?? true).toBe(true);
    expect((await buckets.segments!.info(`shard-003/e2/${file2}`))?.deleted ?? true).toBe(true);
    expect((await buckets.segments!.info(`shard-003/e3/${file3}`))?.deleted).toBe(false);
  });

  test("the sync plan fetches what the local manifest lacks or holds at another size", () => {
    const local = withSealedSegment(emptyManifest(SHARD), segment("seg-0000000001.parquet", 10, 1), 1);
    const remote = withSealedSegment(withSealedSegment(emptyManifest(SHARD), segment("seg-0000000001.parquet", 10, 1), 1), segment("seg-0000000002.parquet", 20, 2), 2);
    expect(planShardSync(local, remote, () => 10).download).toEqual(["seg-0000000002.parquet"]);
    expect(planShardSync(local, remote, () => undefined).download).toEqual(["seg-0000000001.parquet", "seg-0000000002.parquet"]);
    expect(planShardSync(remote, remote, (file) => (file.endsWith("2.parquet") ? 20 : 10)).download).toEqual([]);
  });
});
