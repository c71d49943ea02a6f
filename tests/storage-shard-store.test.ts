// Goal: one shard's ShardStore keeps every row it was given visible exactly once while
// rows move from pending to memtable parts (one DuckDB table per flush) to sealed
// Parquet segments and compacted segments: a seal returns exactly the WAL sequences it
// made durable (empty messages included) and takes no row appended after its memtable
// swap; compaction merges small segments and deletes the inputs only once no snapshot
// reads them; a seal racing a compaction never reuses a segment file name, also after
// the store is reopened from its manifest; durableSeqsFrom answers from the segments
// after a reopen; needsSeal fires at the row threshold and the seal age, the age
// counting from the oldest flushed row even when rows arrive during the flush. Each
// segment gets its skip index before it is published (compaction output its own); a
// snapshot with a skip tree leaves out exactly the segments whose index rules them
// out; a missing, corrupt or other-version index means the segment is read, and it is
// rebuilt in the background at compaction priority; orphan index files are removed
// at open. The per-minute counts equal a GROUP BY over what a snapshot sees, through
// flushes, seals, compaction and a reopen, and in the same tick while flushes run.
// Method: a real DuckDB (one per file, locked to a temporary directory) and a real
// store per test in its own data directory, driven the way the partition actor does it
// (RowBuffer.beginMessage/appendEvent, append, skip, flush, seal, compact). Rows are
// counted per WAL sequence through a snapshot's memtable parts and segment files, so a
// lost or doubled row shows as a whole-object difference. Interleavings are made
// deterministic with a scheduler subclass whose gates hold storage work of one kind at
// the door (the test waits until the work arrives, then opens it), never by sleeping.
// Stores, gates, data directories and the DuckDB instance are torn down in
// afterEach/afterAll, which run when a test fails too.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { LEVELS, type NormalizedEvent } from "../src/protocol/event.ts";
import type { SkipTree } from "../src/query/skip-keys.ts";
import { skipKeysSql } from "../src/query/skip-keys.ts";
import { Duck, queryRows } from "../src/storage/duckdb.ts";
import { MEMTABLE_JOIN_BYTES_MAX, MEMTABLE_JOIN_PARTS, SKIP_INDEX_BYTES_MAX } from "../src/storage/limits.ts";
import { readManifest, type ShardManifest } from "../src/storage/manifest.ts";
import { dataPaths, manifestPath, SEGMENT_FILE_PATTERN, segmentsDir, skipIndexPath, sqlPathLiteral, type DataPaths } from "../src/storage/paths.ts";
import { ShardStore, type ShardStoreOptions, type StoreSnapshot } from "../src/storage/shard-store.ts";
import { firstMisplacedInput } from "../src/storage/segment-skip-indexes.ts";
import { hashKey, SKIP_INDEX_BITS_PER_KEY, SkipIndex } from "../src/storage/skip-index.ts";
import { StorageWorkScheduler, type StorageWorkKind } from "../src/storage/work-scheduler.ts";
import { tempDir } from "./helpers/processes.ts";
import { encodeVersion4 } from "./helpers/skip-index-v4.ts";
import { waitFor } from "./helpers/wait.ts";
import { sumSeries } from "./helpers/minute-counts.ts";

const SHARD = 0;
const TENANT = "default";
const EVENTS_PER_MESSAGE = 200;

/** Holds storage work of one kind until opened; `arrived` resolves once such work waits at the gate. */
interface Gate {
  arrived: Promise<void>;
  open(): void;
}

/**
 * The node-wide scheduler, with gates: work of a held kind waits before it even asks
 * for a slot, so the test decides when a seal's segment write or a compaction starts.
 */
class GatedScheduler extends StorageWorkScheduler {
  private readonly gates = new Map<StorageWorkKind, { gate: Gate; arrive: () => void; opened: Promise<void> }>();

  hold(kind: StorageWorkKind): Gate {
    if (this.gates.has(kind)) throw new Error(`${kind} is already held`);
    let arrive!: () => void;
    let release!: () => void;
    const arrived = new Promise<void>((resolve) => (arrive = resolve));
    const opened = new Promise<void>((resolve) => (release = resolve));
    const gate: Gate = {
      arrived,
      open: () => {
        if (this.gates.get(kind)?.gate === gate) this.gates.delete(kind);
        release();
      },
    };
    this.gates.set(kind, { gate, arrive, opened });
    return gate;
  }

  /** Opens every gate (teardown: a failed test must not leave work, and so close(), hanging). */
  openAll(): void {
    for (const { gate } of [...this.gates.values()]) gate.open();
  }

  override async run<T>(kind: StorageWorkKind, work: () => Promise<T>): Promise<T> {
    const held = this.gates.get(kind);
    if (held) {
      held.arrive();
      await held.opened;
    }
    return super.run(kind, work);
  }
}

// One DuckDB for the file, allowed to touch only the file's temporary root; every test
// gets its own data directory under it.
const root = tempDir("shard-store");
let duck: Duck;
beforeAll(async () => {
  duck = await Duck.open({ dataDir: root.path, memoryLimit: "512MB", threads: 2 });
});
afterAll(() => {
  duck?.close();
  root.remove();
});

interface Fixture {
  paths: DataPaths;
  scheduler: GatedScheduler;
  /** Rows appended per WAL sequence (0 for a skipped message), in append order. */
  appended: Map<number, number>;
}

const openStores = new Set<ShardStore>();
const schedulers: GatedScheduler[] = [];
const directories: string[] = [];

afterEach(async () => {
  for (const scheduler of schedulers.splice(0)) scheduler.openAll();
  const stores = [...openStores];
  openStores.clear();
  await Promise.all(stores.map((store) => store.close()));
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
});

function newFixture(): Fixture {
  const directory = mkdtempSync(join(root.path, "data-"));
  directories.push(directory);
  const scheduler = new GatedScheduler(2);
  schedulers.push(scheduler);
  return { paths: dataPaths(directory), scheduler, appended: new Map() };
}

async function openStore(fixture: Fixture, overrides: Partial<ShardStoreOptions> = {}): Promise<ShardStore> {
  const store = await ShardStore.open({
    shard: SHARD,
    paths: fixture.paths,
    duck,
    sealRowsMax: 1_000_000,
    sealAgeMs: 3_600_000,
    sealBytesMax: 1 << 30,
    flushIntervalMs: 3_600_000,
    compaction: { minSegments: 4, rowsTarget: 1_000_000 },
    scheduler: fixture.scheduler,
    ...overrides,
  });
  openStores.add(store);
  return store;
}

async function closeStore(store: ShardStore): Promise<void> {
  openStores.delete(store);
  await store.close();
}

/** Seed-shaped events: a few services and hosts, mostly INFO, some ERROR, times around now. */
function makeEvents(seq: number, count: number): NormalizedEvent[] {
  const baseUs = Date.now() * 1000;
  return Array.from({ length: count }, (_, index) => ({
    timestampUs: baseUs + index,
    level: index % 7 === 0 ? "ERROR" : "INFO",
    service: `service-${index % 4}`,
    hostname: `host-${index % 3}`,
    traceId: "",
    spanId: "",
    message: `message ${seq}/${index}: GET /api/items/${index} 200`,
    metadata: "{}",
  }));
}

/** Adds one WAL message's rows, the way the partition actor does (seed-shaped events unless given). */
function appendMessage(fixture: Fixture, store: ShardStore, seq: number, count = EVENTS_PER_MESSAGE, events?: NormalizedEvent[], tenant = TENANT): void {
  const ingestUs = Date.now() * 1000;
  const rows = store.pendingRowBuffer;
  rows.beginMessage(ingestUs, seq, tenant);
  const chosen = events ?? makeEvents(seq, count);
  chosen.forEach((event, index) => rows.appendEvent(event, index, event.timestampUs));
  store.append({ rows: chosen.length, seq, storedMs: ingestUs / 1000 });
  fixture.appended.set(seq, chosen.length);
}

/** Records a WAL message that carried no storable event. */
function skipMessage(fixture: Fixture, store: ShardStore, seq: number): void {
  store.skip(seq);
  fixture.appended.set(seq, 0);
}

interface SeqCount {
  seq: number;
  rows: number;
  distinct: number;
}

/** What every row of the given sequences looks like when each is visible exactly once. */
function exactlyOnce(fixture: Fixture, seqs: Iterable<number> = fixture.appended.keys()): SeqCount[] {
  return [...seqs]
    .filter((seq) => (fixture.appended.get(seq) ?? 0) > 0)
    .sort((a, b) => a - b)
    .map((seq) => ({ seq, rows: fixture.appended.get(seq)!, distinct: fixture.appended.get(seq)! }));
}

function sorted(seqs: Iterable<number>): number[] {
  return [...seqs].sort((a, b) => a - b);
}

/** Rows per WAL sequence (and distinct (seq, idx) per sequence) across a snapshot's memtable parts and segment files. */
async function countRows(paths: DataPaths, snapshot: Pick<StoreSnapshot, "memtableParts" | "segments">): Promise<SeqCount[]> {
  const sources = snapshot.memtableParts.length > 0 ? [`SELECT seq, idx FROM read_parquet([${snapshot.memtableParts.join(", ")}])`] : [];
  if (snapshot.segments.length > 0) sources.push(`SELECT seq, idx FROM read_parquet([${snapshot.segments.map(({ path }) => sqlPathLiteral(paths, path)).join(", ")}])`);
  if (sources.length === 0) return [];
  const connection = await duck.connect();
  try {
    const rows = await queryRows(connection, `SELECT seq, count(*) AS n, count(DISTINCT (seq, idx)) AS u FROM (${sources.join(" UNION ALL ")}) GROUP BY seq ORDER BY seq`);
    return rows.map((row) => ({ seq: Number(row.seq), rows: Number(row.n), distinct: Number(row.u) }));
  } finally {
    connection.closeSync();
  }
}

/** Takes a snapshot, counts what it shows, and releases it (also when counting fails). */
async function visible(fixture: Fixture, store: ShardStore): Promise<{ tables: number; segments: number; rows: SeqCount[] }> {
  const snapshot = store.snapshot({ tenant: TENANT });
  try {
    return { tables: snapshot.memtableParts.length, segments: snapshot.segments.length, rows: await countRows(fixture.paths, snapshot) };
  } finally {
    snapshot.release();
  }
}

function manifestOnDisk(fixture: Fixture): ShardManifest {
  return readManifest(manifestPath(fixture.paths, SHARD), SHARD);
}

/** Segment files in the shard's directory (temp files and the manifest excluded), sorted. */
function segmentFilesOnDisk(fixture: Fixture): string[] {
  return readdirSync(segmentsDir(fixture.paths, SHARD))
    .filter((name) => SEGMENT_FILE_PATTERN.test(name))
    .sort();
}

/** Which of the memtable part files (SQL literals, as a snapshot gives them) are on disk. */
function partsOnDisk(literals: readonly string[]): string[] {
  return literals.filter((literal) => existsSync(literal.slice(1, -1))).sort();
}

/** Appends one message of `seq` and seals it alone into its own segment. */
async function sealOne(fixture: Fixture, store: ShardStore, seq: number, count = EVENTS_PER_MESSAGE): Promise<void> {
  appendMessage(fixture, store, seq, count);
  expect(await store.seal()).toEqual([seq]);
}

describe("flush and seal", () => {
  test("every MEMTABLE_JOIN_PARTS flushes join into one part: the same rows exactly once in one file, skipped by their keys; a snapshot from before the join reads the replaced files, removed with the sealed table", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    for (let seq = 1; seq < MEMTABLE_JOIN_PARTS; seq++) {
      appendMessage(fixture, store, seq);
      await store.flush();
    }
    expect(await visible(fixture, store)).toEqual({ tables: MEMTABLE_JOIN_PARTS - 1, segments: 0, rows: exactlyOnce(fixture) });
    const before = store.snapshot({ tenant: TENANT });
    const separate = [...before.memtableParts].sort();

    appendMessage(fixture, store, MEMTABLE_JOIN_PARTS);
    await store.flush();
    expect(await visible(fixture, store)).toEqual({ tables: 1, segments: 0, rows: exactlyOnce(fixture) });
    const joined = store.snapshot({ tenant: TENANT });
    const [joinedPart] = joined.memtableParts;
    joined.release();
    expect(separate).not.toContain(joinedPart);
    // The rows of message 3 and its keys: the joined part is read for a word of it, skipped for an absent one.
    expect(readFor(store, { key: "w:3" }).tables).toBe(1);
    expect(readFor(store, { key: "w:absent" }).tables).toBe(0);
    // The snapshot from before still reads its own parts, each row once.
    expect(partsOnDisk(separate)).toEqual(separate);
    expect(await countRows(fixture.paths, before)).toEqual(exactlyOnce(fixture, Array.from({ length: MEMTABLE_JOIN_PARTS - 1 }, (_, index) => index + 1)));

    // The next flush starts a new run of one-flush parts.
    appendMessage(fixture, store, MEMTABLE_JOIN_PARTS + 1);
    await store.flush();
    expect(await visible(fixture, store)).toEqual({ tables: 2, segments: 0, rows: exactlyOnce(fixture) });
    const all = store.snapshot({ tenant: TENANT });
    const current = [...all.memtableParts];
    all.release();

    expect(sorted(await store.seal())).toEqual(Array.from({ length: MEMTABLE_JOIN_PARTS + 1 }, (_, index) => index + 1));
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });
    // Held by the old snapshot, the sealed table keeps every file until it is released.
    expect(partsOnDisk([...separate, ...current]).length).toBe(separate.length + current.length);
    before.release();
    expect(partsOnDisk([...separate, ...current])).toEqual([]);
  });

  test("with no snapshot holding the memtable, a join removes the parts it replaced at once", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    const seen = new Set<string>();
    for (let seq = 1; seq <= MEMTABLE_JOIN_PARTS; seq++) {
      appendMessage(fixture, store, seq);
      await store.flush();
      const snapshot = store.snapshot({ tenant: TENANT });
      for (const part of snapshot.memtableParts) seen.add(part);
      snapshot.release();
    }
    expect(await visible(fixture, store)).toEqual({ tables: 1, segments: 0, rows: exactlyOnce(fixture) });
    // Seven one-flush parts were seen before the join, then the joined one.
    expect(seen.size).toBe(MEMTABLE_JOIN_PARTS);
    expect(partsOnDisk([...seen]).length).toBe(1);
    // Nothing else of the shard's is left in tmp/: the eighth one-flush part went too.
    expect(readdirSync(fixture.paths.tmp).filter((name) => name.includes(".mem-"))).toHaveLength(1);
    expect(store.stats().partJoins).toBe(1);
  });

  test("parts are not joined past MEMTABLE_JOIN_BYTES_MAX, nor when a part's file is not the one written; they stay apart and every row stays", async () => {
    const fixture = newFixture();
    const lines: string[] = [];
    const store = await openStore(fixture, { log: (line) => lines.push(line) });
    // Each flush past an eighth of the byte bound: eight are too many to join.
    const big = (seq: number) => Array.from({ length: 16 }, (_, index) => ({ ...makeEvents(seq, 1)[0], message: `big ${seq}/${index} ${"x".repeat(Math.ceil(MEMTABLE_JOIN_BYTES_MAX / MEMTABLE_JOIN_PARTS / 16))}` }));
    for (let seq = 1; seq <= MEMTABLE_JOIN_PARTS; seq++) {
      appendMessage(fixture, store, seq, undefined, big(seq));
      await store.flush();
    }
    expect(await visible(fixture, store)).toEqual({ tables: MEMTABLE_JOIN_PARTS, segments: 0, rows: exactlyOnce(fixture) });
    expect(await store.seal()).toHaveLength(MEMTABLE_JOIN_PARTS);

    // A part cut short after it was written (its last byte gone) is not joined; the rest stay as they are.
    for (let seq = 11; seq < 11 + MEMTABLE_JOIN_PARTS - 1; seq++) {
      appendMessage(fixture, store, seq);
      await store.flush();
    }
    const snapshot = store.snapshot({ tenant: TENANT });
    const first = snapshot.memtableParts[0].slice(1, -1);
    snapshot.release();
    const bytes = readFileSync(first);
    writeFileSync(first, bytes.subarray(0, bytes.length - 1));
    appendMessage(fixture, store, 11 + MEMTABLE_JOIN_PARTS - 1);
    await store.flush();
    expect(lines.filter((line) => line.includes("joining"))).toEqual([expect.stringContaining(`joining ${MEMTABLE_JOIN_PARTS} memtable parts failed; they stay apart`)]);
    const after = store.snapshot({ tenant: TENANT });
    expect(after.memtableParts).toHaveLength(MEMTABLE_JOIN_PARTS);
    after.release();
    // Restored, the parts read back whole; they are not tried again, even with a new part behind them.
    writeFileSync(first, bytes);
    appendMessage(fixture, store, 11 + MEMTABLE_JOIN_PARTS);
    await store.flush();
    expect(await visible(fixture, store)).toEqual({ tables: MEMTABLE_JOIN_PARTS + 1, segments: 1, rows: exactlyOnce(fixture) });
    expect(store.stats().partJoins).toBe(0);
  });

  test("each flush adds a memtable part whose rows are visible at once, exactly once; the seal returns every sequence (a skipped one too) and moves all rows into one segment", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 0, rows: [] });

    const flushes: number[][] = [[1, 2], [3], [5, 6]];
    for (const [flushIndex, seqs] of flushes.entries()) {
      for (const seq of seqs) appendMessage(fixture, store, seq);
      if (flushIndex === 1) skipMessage(fixture, store, 4); // a message with no storable event
      expect(store.pendingRowCount).toBe(seqs.length * EVENTS_PER_MESSAGE);
      await store.flush();
      expect(store.pendingRowCount).toBe(0);
      expect(await visible(fixture, store)).toEqual({ tables: flushIndex + 1, segments: 0, rows: exactlyOnce(fixture) });
    }
    const total = 5 * EVENTS_PER_MESSAGE;
    const partsBeforeSeal = store.snapshot({ tenant: TENANT });
    const partNames = [...partsBeforeSeal.memtableParts].sort();
    partsBeforeSeal.release();
    expect(partsOnDisk(partNames)).toEqual(partNames);
    expect(store.stats()).toMatchObject({ pendingRows: 0, memtableRows: total, segments: 0, segmentRows: 0, seals: 0, flushes: 3 });

    expect(sorted(await store.seal())).toEqual([1, 2, 3, 4, 5, 6]);

    const manifest = manifestOnDisk(fixture);
    expect(manifest.segments.map((segment) => ({ rows: segment.rows, minSeq: segment.minSeq, maxSeq: segment.maxSeq, level: segment.level, tenants: segment.tenants }))).toEqual([
      { rows: total, minSeq: 1, maxSeq: 6, level: 0, tenants: [TENANT] },
    ]);
    expect(manifest.lastSeq).toBe(6);
    expect(segmentFilesOnDisk(fixture)).toEqual([manifest.segments[0].file]);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });
    // The sealed memtable's parts are removed: nothing reads them any more.
    expect(partsOnDisk(partNames)).toEqual([]);
    // The seal's memtable swap counts as one more flush.
    expect(store.stats()).toMatchObject({ pendingRows: 0, memtableRows: 0, memtableBytes: 0, segments: 1, segmentRows: total, lastSeq: 6, seals: 1, compactions: 0, flushes: 4 });
    expect(store.unsealedRowCount).toBe(0);
  });

  test("memtable parts: another process's and an earlier version's files go at open, a seal removes its parts, and so does close", async () => {
    const fixture = newFixture();
    mkdirSync(fixture.paths.tmp, { recursive: true });
    const leftovers = ["shard-000.mem-00000000000000aa-1.parquet", "shard-000.mem-00000000000000aa-2.parquet", "shard-000.flush.ndjson"];
    const unrelated = ["shard-001.mem-00000000000000aa-1.parquet", "notes.txt"];
    for (const name of [...leftovers, ...unrelated]) writeFileSync(join(fixture.paths.tmp, name), "x");
    const store = await openStore(fixture);
    expect(readdirSync(fixture.paths.tmp).sort()).toEqual(unrelated.sort());
    appendMessage(fixture, store, 1);
    await store.flush();
    const snapshot = store.snapshot({ tenant: TENANT });
    const parts = [...snapshot.memtableParts];
    snapshot.release();
    expect(partsOnDisk(parts)).toEqual(parts);
    expect(await store.seal()).toEqual([1]);
    expect(partsOnDisk(parts)).toEqual([]);
    // Parts not sealed go when the store closes (the WAL still holds their rows).
    appendMessage(fixture, store, 2);
    await store.flush();
    const unsealed = store.snapshot({ tenant: TENANT });
    unsealed.release();
    expect(partsOnDisk(unsealed.memtableParts)).toEqual(unsealed.memtableParts);
    await closeStore(store);
    expect(readdirSync(fixture.paths.tmp).sort()).toEqual(unrelated.sort());
  });

  test("a seal of only skipped messages returns them without writing a segment", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    skipMessage(fixture, store, 1);
    skipMessage(fixture, store, 2);
    expect(sorted(await store.seal())).toEqual([1, 2]);
    expect(await store.seal()).toEqual([]);
    expect(store.stats()).toMatchObject({ segments: 0, seals: 0 });
    expect(manifestOnDisk(fixture).segments).toEqual([]);
    expect(segmentFilesOnDisk(fixture)).toEqual([]);
  });

  test("rows appended and flushed while a seal is writing land in the next memtable: all stay visible exactly once and the next seal returns only their sequences", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    appendMessage(fixture, store, 1);
    await store.flush();
    appendMessage(fixture, store, 2); // still pending when the seal starts: the seal's swap flushes it

    const sealGate = fixture.scheduler.hold("seal");
    const sealing = store.seal();
    await sealGate.arrived; // the memtable was swapped; the segment write waits at the gate

    appendMessage(fixture, store, 3);
    skipMessage(fixture, store, 4);
    appendMessage(fixture, store, 5);
    await store.flush();
    expect(Bun.peek.status(sealing)).toBe("pending");
    // The frozen memtable (two parts) and the new one (one part), no segment yet.
    expect(await visible(fixture, store)).toEqual({ tables: 3, segments: 0, rows: exactlyOnce(fixture) });
    expect(store.unsealedRowCount).toBe(4 * EVENTS_PER_MESSAGE);

    sealGate.open();
    expect(sorted(await sealing)).toEqual([1, 2]);
    expect(await visible(fixture, store)).toEqual({ tables: 1, segments: 1, rows: exactlyOnce(fixture) });
    expect(store.unsealedRowCount).toBe(2 * EVENTS_PER_MESSAGE);

    expect(sorted(await store.seal())).toEqual([3, 4, 5]);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 2, rows: exactlyOnce(fixture) });
    expect(manifestOnDisk(fixture).segments.map((segment) => [segment.minSeq, segment.maxSeq, segment.rows])).toEqual([
      [1, 2, 2 * EVENTS_PER_MESSAGE],
      [3, 5, 2 * EVENTS_PER_MESSAGE],
    ]);
    expect(store.stats()).toMatchObject({ segments: 2, segmentRows: 4 * EVENTS_PER_MESSAGE, seals: 2, memtableRows: 0 });
  });
});

describe("compaction", () => {
  test("merges five segments into one, keeps every row once, and deletes the inputs only after the last snapshot reading them is released", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    for (const seq of [1, 2, 3, 4, 5]) await sealOne(fixture, store, seq, 100 + seq);
    const inputs = manifestOnDisk(fixture).segments.map((segment) => segment.file);
    expect(inputs).toHaveLength(5);
    expect(segmentFilesOnDisk(fixture)).toEqual([...inputs].sort());
    const total = [1, 2, 3, 4, 5].reduce((sum, seq) => sum + 100 + seq, 0);

    const before = store.snapshot({ tenant: TENANT });
    try {
      expect(await store.compact()).toBe(true);

      const manifest = manifestOnDisk(fixture);
      expect(manifest.segments).toHaveLength(1);
      const [merged] = manifest.segments;
      expect({ rows: merged.rows, minSeq: merged.minSeq, maxSeq: merged.maxSeq, level: merged.level }).toEqual({ rows: total, minSeq: 1, maxSeq: 5, level: 1 });
      expect(inputs).not.toContain(merged.file);
      expect(store.stats()).toMatchObject({ segments: 1, segmentRows: total, compactions: 1, seals: 5 });
      expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });

      // The old snapshot still reads the inputs: they stay on disk until it is released.
      expect(before.segments).toHaveLength(5);
      expect(before.segments.map(({ path }) => existsSync(path))).toEqual([true, true, true, true, true]);
      expect(await countRows(fixture.paths, before)).toEqual(exactlyOnce(fixture));
      expect(segmentFilesOnDisk(fixture)).toEqual([...inputs, merged.file].sort());
    } finally {
      before.release();
    }
    expect(before.segments.map(({ path }) => existsSync(path))).toEqual([false, false, false, false, false]);
    expect(segmentFilesOnDisk(fixture)).toEqual(manifestOnDisk(fixture).segments.map((segment) => segment.file));
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });
  });

  test("without a reader the inputs are deleted at once; below minSegments nothing is merged", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    for (const seq of [1, 2, 3]) await sealOne(fixture, store, seq);
    expect(await store.compact()).toBe(false);
    expect(store.stats()).toMatchObject({ segments: 3, compactions: 0 });

    await sealOne(fixture, store, 4);
    expect(await store.compact()).toBe(true);
    const manifest = manifestOnDisk(fixture);
    expect(manifest.segments.map((segment) => segment.rows)).toEqual([4 * EVENTS_PER_MESSAGE]);
    expect(segmentFilesOnDisk(fixture)).toEqual([manifest.segments[0].file]);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });
  });

  test("an idle compaction merges small segments below minSegments (two are enough), every row once; one segment is left alone", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    await sealOne(fixture, store, 1);
    expect(await store.compact({ idle: true })).toBe(false);
    for (const seq of [2, 3]) await sealOne(fixture, store, seq);
    expect(await store.compact()).toBe(false);
    expect(await store.compact({ idle: true })).toBe(true);
    expect(manifestOnDisk(fixture).segments.map((segment) => segment.rows)).toEqual([3 * EVENTS_PER_MESSAGE]);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });
    expect(await store.compact({ idle: true })).toBe(false);
  });

  const ORDERS = ["the seal publishes first", "the compaction publishes first", "both write at once"] as const;

  test.each(ORDERS)("a seal during a compaction (%s): rows once, unique file names, and a reopened store seals to a new file", async (order) => {
    const fixture = newFixture();
    let store = await openStore(fixture);
    for (const seq of [1, 2, 3, 4, 5]) await sealOne(fixture, store, seq);
    const inputs = manifestOnDisk(fixture).segments.map((segment) => segment.file);

    const compactGate = fixture.scheduler.hold("compact");
    const compacting = store.compact();
    await compactGate.arrived; // planned and named its output; waits to write it

    appendMessage(fixture, store, 6);
    skipMessage(fixture, store, 7);
    appendMessage(fixture, store, 8);
    await store.flush();
    let sealed: number[];
    if (order === "the seal publishes first") {
      sealed = await store.seal();
      expect(Bun.peek.status(compacting)).toBe("pending");
      compactGate.open();
      expect(await compacting).toBe(true);
    } else if (order === "the compaction publishes first") {
      // Held at its memtable swap: a seal whose segment work is queued already would
      // keep the compaction's manifest swap behind it on the segment chain.
      const swapGate = fixture.scheduler.hold("flush");
      const sealing = store.seal();
      await swapGate.arrived;
      compactGate.open();
      expect(await compacting).toBe(true);
      expect(Bun.peek.status(sealing)).toBe("pending");
      swapGate.open();
      sealed = await sealing;
    } else {
      const sealGate = fixture.scheduler.hold("seal");
      const sealing = store.seal();
      await sealGate.arrived;
      compactGate.open();
      sealGate.open();
      const [compacted, sealedNow] = await Promise.all([compacting, sealing]);
      expect(compacted).toBe(true);
      sealed = sealedNow;
    }
    expect(sorted(sealed)).toEqual([6, 7, 8]);

    const manifest = manifestOnDisk(fixture);
    const files = manifest.segments.map((segment) => segment.file);
    expect(new Set(files).size).toBe(files.length);
    expect(files.filter((file) => inputs.includes(file))).toEqual([]);
    expect(manifest.segments.map((segment) => ({ minSeq: segment.minSeq, maxSeq: segment.maxSeq, level: segment.level }))).toEqual([
      { minSeq: 1, maxSeq: 5, level: 1 },
      { minSeq: 6, maxSeq: 8, level: 0 },
    ]);
    expect(segmentFilesOnDisk(fixture)).toEqual([...files].sort());
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 2, rows: exactlyOnce(fixture) });
    const statsBefore = store.stats();
    expect(statsBefore).toMatchObject({ segments: 2, segmentRows: 7 * EVENTS_PER_MESSAGE, lastSeq: 8, seals: 6, compactions: 1 });

    await closeStore(store);
    store = await openStore(fixture);
    expect(manifestOnDisk(fixture)).toEqual(manifest);
    const { segments, segmentRows, segmentBytes, lastSeq } = statsBefore;
    expect(store.stats()).toMatchObject({ segments, segmentRows, segmentBytes, lastSeq, pendingRows: 0, memtableRows: 0, seals: 0, compactions: 0 });
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 2, rows: exactlyOnce(fixture) });

    await sealOne(fixture, store, 9);
    const after = manifestOnDisk(fixture);
    const added = after.segments.map((segment) => segment.file).filter((file) => !files.includes(file));
    expect(added).toHaveLength(1);
    expect([...inputs, ...files]).not.toContain(added[0]);
    expect(after.segments).toHaveLength(3);
    expect(segmentFilesOnDisk(fixture)).toEqual(after.segments.map((segment) => segment.file).sort());
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 3, rows: exactlyOnce(fixture) });
    expect(store.stats()).toMatchObject({ segments: 3, segmentRows: 8 * EVENTS_PER_MESSAGE, lastSeq: 9, seals: 1 });
  });
});

describe("durableSeqsFrom", () => {
  test("after a reopen it returns exactly the sequences at or above minSeq that segments hold", async () => {
    const fixture = newFixture();
    let store = await openStore(fixture);
    appendMessage(fixture, store, 1);
    appendMessage(fixture, store, 2);
    expect(sorted(await store.seal())).toEqual([1, 2]);
    appendMessage(fixture, store, 3);
    skipMessage(fixture, store, 4); // acked by the seal, but no segment holds it
    appendMessage(fixture, store, 5);
    expect(sorted(await store.seal())).toEqual([3, 4, 5]);
    appendMessage(fixture, store, 7); // messages may arrive out of order
    appendMessage(fixture, store, 6);
    expect(sorted(await store.seal())).toEqual([6, 7]);
    appendMessage(fixture, store, 8); // flushed, never sealed: lost on close by design (the WAL replays it)
    await store.flush();
    await closeStore(store);

    store = await openStore(fixture);
    const cases: [number, number[]][] = [
      [0, [1, 2, 3, 5, 6, 7]],
      [1, [1, 2, 3, 5, 6, 7]],
      [2, [2, 3, 5, 6, 7]],
      [4, [5, 6, 7]],
      [6, [6, 7]],
      [7, [7]],
      [8, []],
      [100, []],
    ];
    const answers: [number, number[]][] = [];
    for (const [minSeq] of cases) answers.push([minSeq, sorted(await store.durableSeqsFrom(minSeq))]);
    expect(answers).toEqual(cases);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 3, rows: exactlyOnce(fixture, [1, 2, 3, 5, 6, 7]) });
  });
});

describe("needsSeal", () => {
  const SEAL_ROWS = 100;

  test.each<[string, number, number]>([
    ["all pending", 0, 100],
    ["all flushed", 100, 0],
    ["part flushed, part pending", 60, 40],
  ])("false when empty, true at sealRowsMax rows (%s), false again after the seal", async (_what, flushedRows, pendingRows) => {
    const fixture = newFixture();
    const store = await openStore(fixture, { sealRowsMax: SEAL_ROWS });
    expect(store.needsSeal()).toBe(false);
    skipMessage(fixture, store, 1);
    expect(store.needsSeal()).toBe(false);

    let seq = 2;
    if (flushedRows > 0) {
      appendMessage(fixture, store, seq++, flushedRows - 1);
      await store.flush();
      expect(store.needsSeal()).toBe(false);
      appendMessage(fixture, store, seq++, 1);
      if (pendingRows === 0) await store.flush();
    }
    if (pendingRows > 0) {
      appendMessage(fixture, store, seq++, pendingRows - 1);
      expect(store.needsSeal()).toBe(false);
      appendMessage(fixture, store, seq++, 1);
    }
    expect(store.unsealedRowCount).toBe(SEAL_ROWS);
    expect(store.needsSeal()).toBe(true);

    expect(sorted(await store.seal())).toEqual(sorted(fixture.appended.keys()));
    expect(store.needsSeal()).toBe(false);
  });

  test("true once the oldest unsealed row is sealAgeMs old (no jitter)", async () => {
    const fixture = newFixture();
    let nowMs = 1_000_000;
    const store = await openStore(fixture, { sealRowsMax: SEAL_ROWS, sealAgeMs: 5_000, now: () => nowMs, random: () => 0 });
    appendMessage(fixture, store, 1, 1);
    nowMs += 4_999;
    expect(store.needsSeal()).toBe(false);
    await store.flush(); // the age counts from when the row arrived, not from the flush
    nowMs += 1;
    expect(store.needsSeal()).toBe(true);
    expect(await store.seal()).toEqual([1]);
    expect(store.needsSeal()).toBe(false);
  });

  // A row appended during a flush's insert resets pendingSinceMs; the memtable's age must
  // still count from the oldest row the flush took (it once counted from the later one).
  test("the age counts from the oldest flushed row even when rows arrive while the flush is inserting", async () => {
    const fixture = newFixture();
    let nowMs = 1_000_000;
    const store = await openStore(fixture, { sealRowsMax: SEAL_ROWS, sealAgeMs: 5_000, now: () => nowMs, random: () => 0 });
    appendMessage(fixture, store, 1, 1);
    const flushing = store.flush();
    // Microtasks only: the flush takes the pending rows before its first I/O, and its
    // insert cannot finish while no I/O is processed.
    for (let turns = 0; store.pendingRowCount !== 0; turns++) {
      if (turns > 1_000) throw new Error("the flush never took the pending rows");
      await null;
    }
    nowMs += 3_000;
    appendMessage(fixture, store, 2, 1);
    await flushing;
    nowMs += 2_000; // the row of sequence 1 is now sealAgeMs old
    expect(store.needsSeal()).toBe(true);
  });
});

/** Events of one message that carry `word` in their text, `traceId`, and hosts host-0..2. */
function wordEvents(seq: number, word: string, traceId: string, count = 20): NormalizedEvent[] {
  return makeEvents(seq, count).map((event, index) => ({ ...event, traceId: index === 0 ? traceId : "", message: `request ${index === 0 ? word : "ordinary"} done` }));
}

/** Which segments (by file name) and how many memtable parts a snapshot with `skip` reads, and what it reports. */
function readFor(store: ShardStore, skip: SkipTree | undefined, extra: { fromUs?: number; toUs?: number } = {}) {
  const snapshot = store.snapshot({ tenant: TENANT, skip, ...extra });
  snapshot.release();
  return {
    segments: snapshot.segments.map(({ path }) => basename(path)).sort(),
    tables: snapshot.memtableParts.length,
    segmentsTotal: snapshot.segmentsTotal,
    segmentsSkipped: snapshot.segmentsSkipped,
    segmentsSkippedByIndex: snapshot.segmentsSkippedByIndex,
  };
}

/**
 * Rewrites a one-row-group segment's skip index as an older version wrote it: its keys
 * in half the buckets they get now, seeded (`seed`) so that what it lets through is the
 * same every run. Returns the keys.
 */
async function writeUnderSizedIndex(fixture: Fixture, file: string, seed: number): Promise<string[]> {
  const path = skipIndexPath(fixture.paths, SHARD, file);
  const current = SkipIndex.decode(readFileSync(path));
  expect(current.blocks).toHaveLength(1);
  const older = SkipIndex.forBlocks([current.rowCount], [Math.ceil(current.keyCount / 2)], seed);
  const keys = await keysOfSegment(fixture, file);
  for (const key of keys) older.add(0, key);
  expect(older.underSized).toBe(true);
  writeFileSync(path, older.encode());
  return keys;
}

function segmentNames(fixture: Fixture): string[] {
  return manifestOnDisk(fixture).segments.map((segment) => segment.file);
}

/** The skip keys skipKeysSql lists for a segment file (or its rows [start, end)): what its index must hold. */
async function keysOfSegment(fixture: Fixture, file: string, rows?: { start: number; end: number }): Promise<string[]> {
  const connection = await duck.connect();
  try {
    let source = `read_parquet(${sqlPathLiteral(fixture.paths, join(segmentsDir(fixture.paths, SHARD), file))}, file_row_number = true)`;
    if (rows) source = `(SELECT * FROM ${source} WHERE file_row_number >= ${rows.start} AND file_row_number < ${rows.end})`;
    return (await queryRows(connection, skipKeysSql(source))).map((row) => String(row.key));
  } finally {
    connection.closeSync();
  }
}

/** A store with four sealed segments (sequences 1-4, a word and a trace id each). */
async function storeWithFourSegments(fixture: Fixture): Promise<ShardStore> {
  const store = await openStore(fixture);
  for (const seq of [1, 2, 3, 4]) {
    appendMessage(fixture, store, seq, 0, wordEvents(seq, `word${seq}`, `trace-${seq}`));
    expect(await store.seal()).toEqual([seq]);
  }
  return store;
}

describe("skip index", () => {
  test("a seal indexes its segment; a snapshot leaves out the segments whose index lacks a required word, trace id, service or host, and the memtable parts whose listed keys lack it", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    appendMessage(fixture, store, 1, 0, wordEvents(1, "alphaword", "trace-a"));
    expect(await store.seal()).toEqual([1]);
    appendMessage(fixture, store, 2, 0, wordEvents(2, "betaword", "trace-b"));
    expect(await store.seal()).toEqual([2]);
    const third = wordEvents(3, "gammaword", "trace-c");
    appendMessage(fixture, store, 3, 0, third); // flushed, not sealed
    await store.flush();

    const [first, second] = segmentNames(fixture);
    for (const file of [first, second]) {
      const bloom = SkipIndex.decode(readFileSync(skipIndexPath(fixture.paths, SHARD, file)));
      const keys = await keysOfSegment(fixture, file);
      expect({ keyCount: bloom.keyCount, missing: keys.filter((key) => !bloom.has(key)) }).toEqual({ keyCount: keys.length, missing: [] });
    }
    expect(store.stats()).toMatchObject({ segments: 2, segmentsUnindexed: 0 });
    expect(store.stats().skipIndexBytes).toBeGreaterThan(0);

    const both = [first, second].sort();
    const cases: [string, SkipTree | undefined, string[], number, number][] = [
      ["no tree", undefined, both, 0, 1],
      ["no requirement", true, both, 0, 1],
      ["a word of the first", { key: "w:alphaword" }, [first], 1, 0],
      ["a word only the memtable has", { key: "w:gammaword" }, [], 2, 1],
      ["the memtable's word and trace", { all: [{ key: "w:gammaword" }, { key: "t:trace-c" }] }, [], 2, 1],
      ["the memtable's word and another trace", { all: [{ key: "w:gammaword" }, { key: "t:trace-b" }] }, [], 2, 0],
      ["either segment's word", { any: [{ key: "w:alphaword" }, { key: "w:betaword" }] }, both, 0, 0],
      ["a word of one and the trace of the other", { all: [{ key: "w:alphaword" }, { key: "t:trace-b" }] }, [], 2, 0],
      ["the second's trace", { key: "t:trace-b" }, [second], 1, 0],
      ["a service all have", { key: "s:service-1" }, both, 0, 1],
      ["an absent host", { key: "h:host-9" }, [], 2, 0],
    ];
    for (const [what, skip, segments, skippedByIndex, tables] of cases) {
      expect({ what, ...readFor(store, skip) }).toEqual({ what, segments, tables, segmentsTotal: 2, segmentsSkipped: skippedByIndex, segmentsSkippedByIndex: skippedByIndex });
    }
    // The newest row time is of every part and segment of the tenant, whatever the filter left out.
    const newest = store.snapshot({ tenant: TENANT, skip: { key: "h:host-9" }, toUs: 1 });
    newest.release();
    expect(newest.newestTs()).toBe(Math.max(...third.map((event) => event.timestampUs)));
    const none = store.snapshot({ tenant: "nobody" });
    none.release();
    expect(none.newestTs()).toBe(-Infinity);
    // Time and index together: segmentsSkipped counts both reasons, segmentsSkippedByIndex only the index's; the part's rows are all older too.
    expect(readFor(store, { key: "w:alphaword" }, { fromUs: Date.now() * 1000 + 3_600_000_000 })).toEqual({ segments: [], tables: 0, segmentsTotal: 2, segmentsSkipped: 2, segmentsSkippedByIndex: 0 });
    expect(readFor(store, undefined, { toUs: 1 })).toMatchObject({ segments: [], tables: 0 });
    // A part of another tenant's rows only is not read for this one.
    appendMessage(fixture, store, 4, 3, undefined, "other-tenant");
    await store.flush();
    expect(readFor(store, undefined).tables).toBe(1);
    const other = store.snapshot({ tenant: "other-tenant" });
    other.release();
    expect(other.memtableParts.length).toBe(1);
  });

  test("a seal's index comes from the keys listed as its rows were written: each row group's filter holds exactly its rows' keys, across flushes and a rolled-back message", async () => {
    const fixture = newFixture();
    const lines: string[] = [];
    const store = await openStore(fixture, { log: (line) => lines.push(line) });
    // ~40k rows in flushes of odd sizes: three row groups, their cuts nowhere near a flush's;
    // messages out of WAL order (a redelivery).
    for (const [seq, count] of [
      [3, 9_000],
      [1, 7_777],
      [4, 13_001],
      [2, 10_555],
    ]) {
      appendMessage(fixture, store, seq, count, makeEvents(seq, count).map((event, index) => ({ ...event, traceId: index % 5 === 0 ? `trace-${seq}-${index}` : "" })));
      // A message refused halfway (a bad batch) is rolled back: none of its rows or keys count.
      const rows = store.pendingRowBuffer;
      const mark = rows.mark();
      rows.beginMessage(Date.now() * 1000, 1_000 + seq, TENANT);
      wordEvents(1_000 + seq, `rolledback${seq}`, `trace-rolledback-${seq}`, 50).forEach((event, index) => rows.appendEvent(event, index, event.timestampUs));
      rows.rollback(mark);
      await store.flush();
    }
    await store.seal();
    const [file] = segmentNames(fixture);
    const bloom = SkipIndex.decode(readFileSync(skipIndexPath(fixture.paths, SHARD, file)));
    expect(bloom.rowCount).toBe(9_000 + 7_777 + 13_001 + 10_555);
    expect(bloom.blocks.length).toBeGreaterThanOrEqual(3);
    const allKeys = await keysOfSegment(fixture, file);
    for (const [at, block] of bloom.blocks.entries()) {
      const keys = await keysOfSegment(fixture, file, { start: block.rowStart, end: block.rowStart + block.rowCount });
      // A chunk of up to 1,024 rows a row group holds only part of lends it the rest's keys: extra keys, never a missing one.
      expect({ at, missing: keys.filter((key) => !bloom.blockHas(at, hashKey(key))) }).toEqual({ at, missing: [] });
      expect(block.keyCount).toBeGreaterThanOrEqual(keys.length);
      expect(block.keyCount).toBeLessThanOrEqual(allKeys.length);
    }
    // A rolled-back message's keys may stay in its chunk (a filter may hold extra keys); a word never written is ruled out.
    expect(readFor(store, { key: "w:neverwritten" })).toMatchObject({ segments: [], segmentsSkippedByIndex: 1 });
    expect(readFor(store, { key: "t:trace-3-5" }).segments).toEqual([file]);
    expect(lines.filter((line) => line.includes("skip"))).toEqual([]);
    expect(store.stats()).toMatchObject({ skipIndexesFromRowKeys: 1, skipIndexesListed: 0 });
  });

  test("a row storage refuses is left out at append, the rest of its message is stored, and the seal's index still comes from the rows' keys", async () => {
    const fixture = newFixture();
    const lines: string[] = [];
    const store = await openStore(fixture, { log: (line) => lines.push(line) });
    appendMessage(fixture, store, 1, 50);
    // A stored time no BIGINT holds: that one row is refused; the others of the message stay.
    const rows = store.pendingRowBuffer;
    rows.beginMessage(Date.now() * 1000, 2, TENANT);
    const events = wordEvents(2, "survivor", "trace-2", 5);
    const refusals = events.map((event, index) => rows.appendEvent(event, index, index === 3 ? 1e30 : event.timestampUs));
    expect(refusals.map((refusal) => refusal !== undefined)).toEqual([false, false, false, true, false]);
    expect(refusals[3]).toContain("event 3");
    store.append({ rows: 4, seq: 2, storedMs: Date.now() });
    await store.flush();
    expect(await visible(fixture, store)).toMatchObject({ rows: [expect.objectContaining({ seq: 1, rows: 50 }), { seq: 2, rows: 4, distinct: 4 }] });
    await store.seal();
    expect(store.stats()).toMatchObject({ skipIndexesFromRowKeys: 1, skipIndexesListed: 0 });
    const [file] = segmentNames(fixture);
    const bloom = SkipIndex.decode(readFileSync(skipIndexPath(fixture.paths, SHARD, file)));
    const keys = await keysOfSegment(fixture, file);
    expect(keys).toContain("w:survivor");
    expect({ missing: keys.filter((key) => !bloom.blockHas(0, hashKey(key))) }).toEqual({ missing: [] });
    expect(lines.filter((line) => line.includes("skip"))).toEqual([]);
  });

  test("compaction writes the output's index as its inputs' joined, each row group's filter over exactly its rows, and the inputs' index files go with the inputs", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    for (const seq of [1, 2, 3, 4]) {
      appendMessage(fixture, store, seq, 0, wordEvents(seq, `word${seq}`, `trace-${seq}`, 20 + seq));
      expect(await store.seal()).toEqual([seq]);
    }
    const inputs = segmentNames(fixture);
    const inputBlooms = inputs.map((file) => SkipIndex.decode(readFileSync(skipIndexPath(fixture.paths, SHARD, file))));
    const reading = store.snapshot({ tenant: TENANT });
    expect(await store.compact()).toBe(true);
    const [merged] = segmentNames(fixture);
    // Still read by the snapshot: the inputs and their indexes stay until it is released.
    expect(inputs.map((file) => existsSync(skipIndexPath(fixture.paths, SHARD, file)))).toEqual([true, true, true, true]);
    reading.release();
    expect(inputs.map((file) => existsSync(skipIndexPath(fixture.paths, SHARD, file)))).toEqual([false, false, false, false]);

    const bloom = SkipIndex.decode(readFileSync(skipIndexPath(fixture.paths, SHARD, merged)));
    // The inputs' blocks in order (21, 22, 23 and 24 rows), not the key listing of the output's one row group.
    expect(bloom.blocks.map((block) => [block.rowStart, block.rowCount, block.seed])).toEqual([
      [0, 21, inputBlooms[0].blocks[0].seed],
      [21, 22, inputBlooms[1].blocks[0].seed],
      [43, 23, inputBlooms[2].blocks[0].seed],
      [66, 24, inputBlooms[3].blocks[0].seed],
    ]);
    expect(bloom.keyCount).toBe(inputBlooms.reduce((sum, input) => sum + input.keyCount, 0));
    // The output holds each input's rows where its block says: every key of those rows passes that block.
    for (const [at, block] of bloom.blocks.entries()) {
      const keys = await keysOfSegment(fixture, merged, { start: block.rowStart, end: block.rowStart + block.rowCount });
      expect({ at, keys: keys.length, missing: keys.filter((key) => !bloom.blockHas(at, hashKey(key))) }).toEqual({ at, keys: block.keyCount, missing: [] });
    }
    expect(readFor(store, { key: "w:word3" }).segments).toEqual([merged]);
    expect(readFor(store, { key: "t:trace-4" }).segments).toEqual([merged]);
    expect(readFor(store, { key: "w:word5" })).toMatchObject({ segments: [], segmentsSkippedByIndex: 1 });
    expect(store.stats()).toMatchObject({ segments: 1, segmentsUnindexed: 0 });
    expect(readdirSync(segmentsDir(fixture.paths, SHARD)).sort()).toEqual([merged, `${merged}.skip`]);
  });

  test("inputs whose indexes came from version 4 files (all with the same block seeds) are not joined: the output's keys are listed", async () => {
    const fixture = newFixture();
    let store = await storeWithFourSegments(fixture);
    await closeStore(store);
    // Rewrite each index in the version 4 layout: 16-byte block entries without the seed (block i used seed base 0).
    for (const file of segmentNames(fixture)) {
      const path = skipIndexPath(fixture.paths, SHARD, file);
      const index = SkipIndex.decode(readFileSync(path));
      const rebuilt = SkipIndex.forBlocks(index.blocks.map((block) => block.rowCount), index.blocks.map((block) => block.keyCount), 0);
      for (const key of await keysOfSegment(fixture, file)) rebuilt.add(0, key);
      writeFileSync(path, encodeVersion4(rebuilt));
    }
    store = await openStore(fixture);
    expect(store.stats()).toMatchObject({ segments: 4, segmentsUnindexed: 0 });
    expect(await store.compact()).toBe(true);
    const [merged] = segmentNames(fixture);
    const bloom = SkipIndex.decode(readFileSync(skipIndexPath(fixture.paths, SHARD, merged)));
    // One row group of 80 rows, its keys listed from the output (shared words counted once), not four joined blocks.
    expect(bloom.blocks.map((block) => [block.rowStart, block.rowCount])).toEqual([[0, 80]]);
    const keys = await keysOfSegment(fixture, merged);
    expect({ keyCount: bloom.keyCount, missing: keys.filter((key) => !bloom.has(key)) }).toEqual({ keyCount: keys.length, missing: [] });
    await closeStore(store);
  });

  test("an index written with fewer bits a key (an older version's) is logged once and used until a background build at compaction priority replaces it", async () => {
    const fixture = newFixture();
    let store = await storeWithFourSegments(fixture);
    await closeStore(store);
    const files = segmentNames(fixture);
    const path = skipIndexPath(fixture.paths, SHARD, files[0]);
    const keys = await writeUnderSizedIndex(fixture, files[0], 7);

    const compactGate = fixture.scheduler.hold("compact");
    const lines: string[] = [];
    store = await openStore(fixture, { log: (line) => lines.push(line) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`1 of 4 segments have a skip index of fewer than ${SKIP_INDEX_BITS_PER_KEY} bits a key`);
    expect(store.stats()).toMatchObject({ segments: 4, segmentsUnindexed: 0, skipIndexesUnderSized: 1 });
    // Used meanwhile: a query for another segment's word skips it.
    expect(readFor(store, { key: "w:word2" })).toMatchObject({ segments: [files[1]], segmentsSkippedByIndex: 3 });
    expect(readFor(store, { key: "w:word1" })).toMatchObject({ segments: [files[0]], segmentsSkippedByIndex: 3 });

    await compactGate.arrived;
    expect(store.stats().skipIndexesUnderSized).toBe(1);
    compactGate.open();
    await waitFor(() => store.stats().skipIndexesUnderSized === 0, { timeoutMs: 30_000, what: "the under-sized skip index rebuilt" });
    const rebuilt = SkipIndex.decode(readFileSync(path));
    expect({ underSized: rebuilt.underSized, keyCount: rebuilt.keyCount, missing: keys.filter((key) => !rebuilt.has(key)) }).toEqual({ underSized: false, keyCount: keys.length, missing: [] });
    expect(readFor(store, { key: "w:word1" })).toMatchObject({ segments: [files[0]], segmentsSkippedByIndex: 3 });
    expect(lines).toHaveLength(1);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 4, rows: exactlyOnce(fixture) });
    await closeStore(store);
  });

  test("an under-sized index whose keys would not fit an index at today's bits is kept as it is, not queued for a rebuild", async () => {
    const fixture = newFixture();
    let store = await storeWithFourSegments(fixture);
    await closeStore(store);
    const [file] = segmentNames(fixture);
    const path = skipIndexPath(fixture.paths, SHARD, file);
    const index = SkipIndex.decode(readFileSync(path));
    // It claims more keys than SKIP_INDEX_BYTES_MAX holds at SKIP_INDEX_BITS_PER_KEY, in the buckets it has.
    (index.blocks[0] as { keyCount: number }).keyCount = Math.ceil((SKIP_INDEX_BYTES_MAX * 8) / SKIP_INDEX_BITS_PER_KEY) + 1;
    writeFileSync(path, index.encode());
    const lines: string[] = [];
    store = await openStore(fixture, { log: (line) => lines.push(line) });
    expect(store.stats()).toMatchObject({ segments: 4, segmentsUnindexed: 0, skipIndexesUnderSized: 1 });
    expect(lines.filter((line) => line.includes("bits a key"))).toEqual([]);
    // Still used: a word of another segment skips it.
    expect(readFor(store, { key: "w:word2" }).segments).not.toContain(file);
    await closeStore(store);
  });

  test("a compaction that joins an under-sized index gives its output a full one, rebuilt in the background", async () => {
    const fixture = newFixture();
    let store = await storeWithFourSegments(fixture);
    await closeStore(store);
    for (const [at, file] of segmentNames(fixture).entries()) await writeUnderSizedIndex(fixture, file, 7 + at);
    const compactGate = fixture.scheduler.hold("compact");
    store = await openStore(fixture);
    expect(store.stats().skipIndexesUnderSized).toBe(4);
    // Queued behind the first rebuild and before the next: it joins at least three under-sized indexes.
    const compacted = store.compact();
    await compactGate.arrived;
    compactGate.open();
    expect(await compacted).toBe(true);
    // The output's index, joined from under-sized ones, is under-sized until its own rebuild.
    expect(store.stats()).toMatchObject({ segments: 1, skipIndexesUnderSized: 1 });
    await waitFor(() => store.stats().segments === 1 && store.stats().skipIndexesUnderSized === 0, { timeoutMs: 30_000, what: "the compaction output's index rebuilt" });
    const [merged] = segmentNames(fixture);
    const bloom = SkipIndex.decode(readFileSync(skipIndexPath(fixture.paths, SHARD, merged)));
    const keys = await keysOfSegment(fixture, merged);
    expect({ underSized: bloom.underSized, missing: keys.filter((key) => !bloom.has(key)) }).toEqual({ underSized: false, missing: [] });
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });
    await closeStore(store);
  });

  test("a missing, corrupt or other-version index is logged once and its segment read by every query until a background build at compaction priority replaces it; orphan index files are removed at open", async () => {
    const fixture = newFixture();
    let store = await storeWithFourSegments(fixture);
    await closeStore(store);
    const files = segmentNames(fixture);
    const indexOf = (file: string) => skipIndexPath(fixture.paths, SHARD, file);
    rmSync(indexOf(files[0]));
    const corrupt = readFileSync(indexOf(files[1]));
    corrupt[40] ^= 0xff;
    writeFileSync(indexOf(files[1]), corrupt);
    const otherVersion = readFileSync(indexOf(files[2]));
    otherVersion[4] = 99;
    writeFileSync(indexOf(files[2]), otherVersion);
    const dir = segmentsDir(fixture.paths, SHARD);
    writeFileSync(join(dir, "seg-0000009999.parquet.skip"), "orphan"); // its segment is not in the manifest
    writeFileSync(join(dir, `${files[3]}.skip.tmp`), "torn");
    const liveIndexBefore = readFileSync(indexOf(files[3]));

    const compactGate = fixture.scheduler.hold("compact");
    const lines: string[] = [];
    store = await openStore(fixture, { log: (line) => lines.push(line) });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain("3 of 4 segments have no usable skip index, 2 unreadable");
    expect(readdirSync(dir).sort()).toEqual([...files, `${files[1]}.skip`, `${files[2]}.skip`, `${files[3]}.skip`].sort());
    expect(readFileSync(indexOf(files[3]))).toEqual(liveIndexBefore);
    expect(store.stats()).toMatchObject({ segments: 4, segmentsUnindexed: 3 });

    // Unindexed segments are read whatever the query needs; the indexed one only when it may match.
    expect(readFor(store, { key: "w:word4" })).toMatchObject({ segments: [...files].sort(), segmentsSkippedByIndex: 0 });
    expect(readFor(store, { key: "w:absent" })).toMatchObject({ segments: files.slice(0, 3).sort(), segmentsSkippedByIndex: 1 });

    // The rebuild is compaction-priority storage work: it waits at the gate, not in open.
    await compactGate.arrived;
    expect(store.stats().segmentsUnindexed).toBe(3);
    compactGate.open();
    await waitFor(() => store.stats().segmentsUnindexed === 0, { timeoutMs: 30_000, what: "skip indexes rebuilt" });
    for (const [index, file] of files.entries()) {
      expect(readFor(store, { key: `w:word${index + 1}` })).toMatchObject({ segments: [file], segmentsSkippedByIndex: 3 });
      expect(SkipIndex.decode(readFileSync(indexOf(file))).has(`t:trace-${index + 1}`)).toBe(true);
    }
    expect(lines).toHaveLength(1);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 4, rows: exactlyOnce(fixture) });
  });
});

describe("firstMisplacedInput (the order check before a compaction joins its inputs' indexes)", () => {
  const input = (file: string, rows: number, minSeq: number, maxSeq: number) => ({ file, rows, minSeq, maxSeq, minTs: minSeq * 10, maxTs: maxSeq * 10, bytes: 1, tenants: [TENANT], createdAtMs: 0, level: 0 });
  const inputs = [input("a", 5, 1, 3), input("b", 7, 4, 9), input("c", 2, 10, 10)];
  const placeOf = ({ rows, minSeq, maxSeq, minTs, maxTs }: ReturnType<typeof input>) => ({ rows, minSeq, maxSeq, minTs, maxTs });

  test("an output holding every input at its place passes", () => {
    expect(firstMisplacedInput(inputs, inputs.map(placeOf))).toBeUndefined();
  });

  test.each<[string, (places: ReturnType<typeof placeOf>[]) => void, string]>([
    ["a place with other sequences (rows out of order)", (places) => (places[1].minSeq = 3), "b"],
    ["a place with other times", (places) => (places[2].maxTs = 99), "c"],
    ["a place with fewer rows", (places) => (places[0].rows = 4), "a"],
    ["a missing place", (places) => places.pop(), "c"],
    ["a place more than inputs", (places) => places.push(placeOf(inputs[0])), "c"],
  ])("%s names the input", (_, spoil, file) => {
    const places = inputs.map(placeOf);
    spoil(places);
    expect(firstMisplacedInput(inputs, places)).toBe(file);
  });
});

/** Rows by (service, level) of one tenant across a snapshot's tables and segments, by brute force: what counts.sum must say. */
async function scannedCounts(fixture: Fixture, snapshot: Pick<StoreSnapshot, "memtableParts" | "segments">, tenant: string, bucketMinutes: number | null): Promise<[string, number, number, number][]> {
  const sources = snapshot.memtableParts.length > 0 ? [`SELECT tenant, service, level, ts FROM read_parquet([${snapshot.memtableParts.join(", ")}])`] : [];
  if (snapshot.segments.length > 0) sources.push(`SELECT tenant, service, level, ts FROM read_parquet([${snapshot.segments.map(({ path }) => sqlPathLiteral(fixture.paths, path)).join(", ")}])`);
  if (sources.length === 0) return [];
  const bucket = bucketMinutes === null ? "-1" : `floor(floor(ts / 60000000.0) / ${bucketMinutes}) * ${bucketMinutes}`;
  const connection = await duck.connect();
  try {
    const rows = await queryRows(connection, `SELECT service, level, ${bucket}::BIGINT AS bucket, count(*) AS n FROM (${sources.join(" UNION ALL ")}) WHERE tenant = $1 GROUP BY ALL`, [tenant]);
    return sortCountRows(rows.map((row) => [String(row.service), Number(row.level), Number(row.bucket), Number(row.n)]));
  } finally {
    connection.closeSync();
  }
}

function sortCountRows(rows: [string, number, number, number][]): [string, number, number, number][] {
  return rows.sort((a, b) => a[0].localeCompare(b[0]) || a[1] - b[1] || a[2] - b[2]);
}

/** What counts.sum visits over all time. */
function summedCounts(store: ShardStore, tenant: string, bucketMinutes: number | null): [string, number, number, number][] {
  const rows: [string, number, number, number][] = [];
  sumSeries(store.counts, tenant, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, bucketMinutes, (service, level, bucket, count) => rows.push([service, level, bucket, count]));
  return sortCountRows(rows);
}

/** Takes a snapshot of `tenant` and the counts' sum in the same tick, then checks them against each other. */
async function expectCountsAgree(fixture: Fixture, store: ShardStore, tenants: readonly string[]): Promise<void> {
  for (const tenant of tenants) {
    for (const bucketMinutes of [null, 1, 60]) {
      const snapshot = store.snapshot({ tenant });
      const summed = summedCounts(store, tenant, bucketMinutes);
      try {
        expect({ tenant, bucketMinutes, counts: summed }).toEqual({ tenant, bucketMinutes, counts: await scannedCounts(fixture, snapshot, tenant, bucketMinutes) });
      } finally {
        snapshot.release();
      }
    }
  }
}

/** Events over ~5 hours around now and some before 1970, several services and every level. */
function spreadEvents(seq: number, count: number): NormalizedEvent[] {
  const nowUs = Date.now() * 1000;
  return Array.from({ length: count }, (_, index) => ({
    ...makeEvents(seq, 1)[0],
    timestampUs: index % 10 === 0 ? -((seq * 7_919 + index) * 13_000_000) : nowUs - ((seq * 7_919 + index * 104_729) % (5 * 3_600_000)) * 1000,
    level: LEVELS[(seq + index) % LEVELS.length],
    service: `service-${(seq * 3 + index) % 5}`,
  }));
}

describe("minute counts", () => {
  const TENANTS = [TENANT, "acme"];

  test("counts.sum equals a GROUP BY over the snapshot after flushes, seals, a compaction and a reopen", async () => {
    const fixture = newFixture();
    let store = await openStore(fixture);
    let seq = 0;
    const appendBoth = (count: number) => {
      seq++;
      appendMessage(fixture, store, seq, 0, spreadEvents(seq, count), TENANTS[seq % 2]);
    };
    await expectCountsAgree(fixture, store, TENANTS);
    appendBoth(150);
    appendBoth(80);
    await store.flush();
    await expectCountsAgree(fixture, store, TENANTS);
    appendBoth(60);
    await store.seal();
    await expectCountsAgree(fixture, store, TENANTS);
    for (let index = 0; index < 4; index++) {
      appendBoth(40 + index);
      await store.seal();
    }
    appendBoth(33);
    await store.flush(); // stays in the memtable through the compaction
    expect(await store.compact()).toBe(true);
    await expectCountsAgree(fixture, store, TENANTS);
    expect(store.stats()).toMatchObject({ segments: 1, memtableRows: 33, compactions: 1, countsOverflowed: false });

    await closeStore(store);
    store = await openStore(fixture);
    // The flushed rows were dropped at close (the WAL replays them); the segments' rows are counted at open.
    await expectCountsAgree(fixture, store, TENANTS);
    appendBoth(70);
    await store.flush();
    await expectCountsAgree(fixture, store, TENANTS);
    const total = (tenant: string) => summedCounts(store, tenant, null).reduce((sum, row) => sum + row[3], 0);
    expect(total(TENANT) + total("acme")).toBe(150 + 80 + 60 + 40 + 41 + 42 + 43 + 70);
  });

  test("a snapshot and a sum taken in the same tick agree while flushes and a seal run", async () => {
    const fixture = newFixture();
    const store = await openStore(fixture);
    const pairs: { snapshot: StoreSnapshot; counts: [string, number, number, number][] }[] = [];
    const sample = () => {
      const snapshot = store.snapshot({ tenant: TENANT });
      pairs.push({ snapshot, counts: summedCounts(store, TENANT, null) });
    };
    try {
      const work: Promise<unknown>[] = [];
      const running = () => work.some((promise) => Bun.peek.status(promise) === "pending");
      const nextTurn = () => new Promise((resolve) => setImmediate(resolve));
      // Each message is appended and its flush (once, a seal) started while the one
      // before still runs, and a sample is taken on every turn of the event loop until
      // that one is done: the flushes' parts and the seal's segment appear between turns.
      for (let seq = 1; seq <= 8; seq++) {
        appendMessage(fixture, store, seq, 0, spreadEvents(seq, 50 + seq));
        const previous = work.at(-1);
        work.push(seq === 5 ? store.seal() : store.flush());
        while (previous && Bun.peek.status(previous) === "pending") {
          sample();
          await nextTurn();
        }
      }
      while (running()) {
        sample();
        await nextTurn();
      }
      sample();
      for (const promise of work) await promise;
      const totals = new Set(pairs.map((pair) => pair.counts.reduce((sum, row) => sum + row[3], 0)));
      expect(totals.size).toBeGreaterThan(4); // the samples saw rows arrive, not just the end state
      // Many samples show the same state; each distinct (snapshot, counts) pair is checked once.
      const distinct = new Map<string, (typeof pairs)[number]>();
      for (const pair of pairs) distinct.set(JSON.stringify([pair.snapshot.memtableParts, pair.snapshot.segments.map((read) => read.path), pair.counts]), pair);
      for (const [index, pair] of [...distinct.values()].entries()) {
        expect({ index, counts: pair.counts }).toEqual({ index, counts: await scannedCounts(fixture, pair.snapshot, TENANT, null) });
      }
    } finally {
      for (const pair of pairs) pair.snapshot.release();
    }
  });
});
