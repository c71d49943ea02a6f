// Goal: one shard's ShardStore keeps every row it was given visible exactly once while
// rows move from pending to memtable parts (one DuckDB table per flush) to sealed
// Parquet segments and compacted segments: a seal returns exactly the WAL sequences it
// made durable (empty messages included) and takes no row appended after its memtable
// swap; compaction merges small segments and deletes the inputs only once no snapshot
// reads them; a seal racing a compaction never reuses a segment file name, also after
// the store is reopened from its manifest; durableSeqsFrom answers from the segments
// after a reopen; needsSeal fires at the row threshold and the seal age, the age
// counting from the oldest flushed row even when rows arrive during the flush.
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
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { Duck, queryRows } from "../src/storage/duckdb.ts";
import { readManifest, type ShardManifest } from "../src/storage/manifest.ts";
import { dataPaths, manifestPath, SEGMENT_FILE_PATTERN, segmentsDir, sqlPathLiteral, type DataPaths } from "../src/storage/paths.ts";
import { ShardStore, type ShardStoreOptions, type StoreSnapshot } from "../src/storage/shard-store.ts";
import { StorageWorkScheduler, type StorageWorkKind } from "../src/storage/work-scheduler.ts";
import { tempDir } from "./helpers/processes.ts";

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

/** Adds one WAL message's rows, the way the partition actor does. */
function appendMessage(fixture: Fixture, store: ShardStore, seq: number, count = EVENTS_PER_MESSAGE): void {
  const ingestUs = Date.now() * 1000;
  const rows = store.pendingRowBuffer;
  rows.beginMessage(ingestUs, seq, TENANT);
  makeEvents(seq, count).forEach((event, index) => rows.appendEvent(event, index, event.timestampUs));
  store.append({ rows: count, seq, storedMs: ingestUs / 1000 });
  fixture.appended.set(seq, count);
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

/** Rows per WAL sequence (and distinct (seq, idx) per sequence) across a snapshot's tables and segment files. */
async function countRows(paths: DataPaths, snapshot: Pick<StoreSnapshot, "tables" | "segmentPaths">): Promise<SeqCount[]> {
  const sources = snapshot.tables.map((table) => `SELECT seq, idx FROM ${table}`);
  if (snapshot.segmentPaths.length > 0) sources.push(`SELECT seq, idx FROM read_parquet([${snapshot.segmentPaths.map((path) => sqlPathLiteral(paths, path)).join(", ")}])`);
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
    return { tables: snapshot.tables.length, segments: snapshot.segmentPaths.length, rows: await countRows(fixture.paths, snapshot) };
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

async function memtablesInDuck(names: readonly string[]): Promise<string[]> {
  if (names.length === 0) return [];
  const connection = await duck.connect();
  try {
    const rows = await queryRows(connection, `SELECT table_name FROM duckdb_tables() WHERE table_name IN (${names.map((name) => `'${name}'`).join(", ")})`);
    return rows.map((row) => String(row.table_name)).sort();
  } finally {
    connection.closeSync();
  }
}

/** Appends one message of `seq` and seals it alone into its own segment. */
async function sealOne(fixture: Fixture, store: ShardStore, seq: number, count = EVENTS_PER_MESSAGE): Promise<void> {
  appendMessage(fixture, store, seq, count);
  expect(await store.seal()).toEqual([seq]);
}

describe("flush and seal", () => {
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
    const partNames = [...partsBeforeSeal.tables].sort();
    partsBeforeSeal.release();
    expect(await memtablesInDuck(partNames)).toEqual(partNames);
    expect(store.stats()).toMatchObject({ pendingRows: 0, memtableRows: total, segments: 0, segmentRows: 0, seals: 0, flushes: 3 });

    expect(sorted(await store.seal())).toEqual([1, 2, 3, 4, 5, 6]);

    const manifest = manifestOnDisk(fixture);
    expect(manifest.segments.map((segment) => ({ rows: segment.rows, minSeq: segment.minSeq, maxSeq: segment.maxSeq, level: segment.level, tenants: segment.tenants }))).toEqual([
      { rows: total, minSeq: 1, maxSeq: 6, level: 0, tenants: [TENANT] },
    ]);
    expect(manifest.lastSeq).toBe(6);
    expect(segmentFilesOnDisk(fixture)).toEqual([manifest.segments[0].file]);
    expect(await visible(fixture, store)).toEqual({ tables: 0, segments: 1, rows: exactlyOnce(fixture) });
    // The sealed memtable's parts are dropped: nothing reads them any more.
    expect(await memtablesInDuck(partNames)).toEqual([]);
    // The seal's memtable swap counts as one more flush.
    expect(store.stats()).toMatchObject({ pendingRows: 0, memtableRows: 0, memtableBytes: 0, segments: 1, segmentRows: total, lastSeq: 6, seals: 1, compactions: 0, flushes: 4 });
    expect(store.unsealedRowCount).toBe(0);
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
      expect(before.segmentPaths).toHaveLength(5);
      expect(before.segmentPaths.map((path) => existsSync(path))).toEqual([true, true, true, true, true]);
      expect(await countRows(fixture.paths, before)).toEqual(exactlyOnce(fixture));
      expect(segmentFilesOnDisk(fixture)).toEqual([...inputs, merged.file].sort());
    } finally {
      before.release();
    }
    expect(before.segmentPaths.map((path) => existsSync(path))).toEqual([false, false, false, false, false]);
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
