// Goal: a shard manifest changes only through the pure withSealedSegment and
// withCompaction, whose nextSegmentNumber stays above every segment number used (even
// when a compaction's output is published after a later-numbered seal);
// validateManifest rejects every kind of corruption with a ManifestError, and
// writeManifest/readManifest round-trip it on disk while a truncated
// file is rejected and a missing one reads as the empty manifest.
// Method: whole-object comparisons of the pure results (and of the inputs, to show they
// were not mutated); a table of corrupted copies of one valid manifest; real files in a
// temporary directory created under os.tmpdir() and removed in afterAll.

import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  MANIFEST_VERSION,
  emptyManifest,
  readManifest,
  validateManifest,
  withCompaction,
  withSealedSegment,
  writeManifest,
  type SegmentMeta,
  type ShardManifest,
} from "../src/storage/manifest.ts";
import { segmentFileName } from "../src/storage/paths.ts";

function segment(number: number, overrides: Partial<SegmentMeta> = {}): SegmentMeta {
  return {
    file: segmentFileName(number),
    rows: 1000 * number,
    bytes: 65_536 * number,
    minTs: 1_700_000_000_000_000 + number * 1_000_000,
    maxTs: 1_700_000_000_000_000 + number * 1_000_000 + 999_999,
    minSeq: number * 100 + 1,
    maxSeq: number * 100 + 100,
    tenants: ["default"],
    createdAtMs: 1_700_000_000_000 + number,
    level: 0,
    ...overrides,
  };
}

/** What fn threw, as a comparable object: its class, code and message. */
function thrown(fn: () => unknown): { error: string; code: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as { code?: unknown }).code, message: (error as Error).message };
  }
  throw new Error("expected a throw");
}

function manifestError(message: string): { error: string; code: string; message: string } {
  return { error: "ManifestError", code: "manifest_corrupt", message };
}

/** A valid manifest of shard 3 holding segments 1 and 2 (sequences 101..300). */
function validManifest(): ShardManifest {
  return { version: MANIFEST_VERSION, shard: 3, lastSeq: 300, nextSegmentNumber: 3, segments: [segment(1), segment(2)] };
}

describe("emptyManifest", () => {
  test("starts at sequence 0 and segment number 1, and is itself valid", () => {
    expect(emptyManifest(5)).toEqual({ version: 1, shard: 5, lastSeq: 0, nextSegmentNumber: 1, segments: [] });
    expect(validateManifest(emptyManifest(5), 5)).toEqual(emptyManifest(5));
  });
});

describe("withSealedSegment", () => {
  test("appends the segment, advances lastSeq and nextSegmentNumber, and leaves the input untouched", () => {
    const before = validManifest();
    const sealed = segment(3);
    const after = withSealedSegment(before, sealed, 400);
    expect(after).toEqual({ version: 1, shard: 3, lastSeq: 400, walFloor: 0, nextSegmentNumber: 4, segments: [segment(1), segment(2), segment(3)] });
    expect(before).toEqual(validManifest());
    expect(validateManifest(after, 3)).toEqual(after);
  });

  test("the WAL floor goes up with a seal and never down; a manifest without one reads as 0", () => {
    const first = withSealedSegment(validManifest(), segment(3), 400, 390);
    expect(first.walFloor).toBe(390);
    expect(withSealedSegment(first, segment(4, { minSeq: 401, maxSeq: 420 }), 420, 120).walFloor).toBe(390);
    expect(withSealedSegment(first, segment(4, { minSeq: 401, maxSeq: 420 }), 420).walFloor).toBe(390);
    expect(validateManifest(first, 3)).toEqual(first);
  });

  test("sealing at the current lastSeq is allowed (a seal of nothing new)", () => {
    expect(withSealedSegment(validManifest(), segment(3, { minSeq: 300, maxSeq: 300 }), 300).lastSeq).toBe(300);
  });

  test("a seal sequence below lastSeq is refused", () => {
    expect(thrown(() => withSealedSegment(validManifest(), segment(3), 299))).toEqual(manifestError("seal sequence 299 is below the manifest's 300"));
  });

  test("from the empty manifest", () => {
    expect(withSealedSegment(emptyManifest(0), segment(1), 100)).toEqual({ version: 1, shard: 0, lastSeq: 100, walFloor: 0, nextSegmentNumber: 2, segments: [segment(1)] });
  });

  test("publishing segment 7 into a manifest whose nextSegmentNumber is 5 gives 8 (above every number used)", () => {
    const before: ShardManifest = { ...validManifest(), nextSegmentNumber: 5 };
    const after = withSealedSegment(before, segment(7), 800);
    expect(after).toEqual({ version: 1, shard: 3, lastSeq: 800, walFloor: 0, nextSegmentNumber: 8, segments: [segment(1), segment(2), segment(7)] });
    expect(validateManifest(after, 3)).toEqual(after);
  });

  test.each([
    ["below the next number keeps it", 9, 3, 9],
    ["one below the next number keeps it", 4, 3, 4],
    ["equal to the next number advances it by one", 3, 3, 4],
    ["far above the next number jumps past it", 3, 1_000, 1_001],
  ])("a sealed segment numbered %s", (_what, next, number, expected) => {
    const after = withSealedSegment({ ...validManifest(), nextSegmentNumber: next }, segment(number, { minSeq: 301, maxSeq: 400 }), 400);
    expect(after.nextSegmentNumber).toBe(expected);
  });
});

describe("withCompaction", () => {
  test("a compaction output numbered 5 published after a seal numbered 6 (next already 7) keeps 7", () => {
    // Compaction of segments 2 and 3 reserved number 5, then a seal reserved 6 and was published first.
    const start: ShardManifest = { ...validManifest(), lastSeq: 400, nextSegmentNumber: 5, segments: [segment(1), segment(2), segment(3), segment(4)] };
    const sealed = withSealedSegment(start, segment(6), 700);
    expect(sealed.nextSegmentNumber).toBe(7);
    const output = segment(5, { minSeq: 201, maxSeq: 400, rows: 5000, level: 1 });
    const after = withCompaction(sealed, [segment(2).file, segment(3).file], output);
    expect(after).toEqual({ version: 1, shard: 3, lastSeq: 700, walFloor: 0, nextSegmentNumber: 7, segments: [segment(1), output, segment(4), segment(6)] });
    expect(validateManifest(after, 3)).toEqual(after);
  });

  test("a compaction output numbered above nextSegmentNumber raises it past the output", () => {
    const before: ShardManifest = { ...validManifest(), nextSegmentNumber: 3 };
    const output = segment(9, { minSeq: 101, maxSeq: 300, level: 1 });
    expect(withCompaction(before, [segment(1).file, segment(2).file], output)).toEqual({ version: 1, shard: 3, lastSeq: 300, nextSegmentNumber: 10, segments: [output] });
  });

  test("replaces the inputs by the output, keeps the others, sorts by minSeq and leaves lastSeq alone", () => {
    const before: ShardManifest = { ...validManifest(), lastSeq: 500, nextSegmentNumber: 6, segments: [segment(1), segment(2), segment(3), segment(4)] };
    const output = segment(6, { minSeq: 201, maxSeq: 400, rows: 7000, level: 1 });
    const after = withCompaction(before, [segment(2).file, segment(3).file], output);
    expect(after).toEqual({ version: 1, shard: 3, lastSeq: 500, nextSegmentNumber: 7, segments: [segment(1), output, segment(4)] });
    expect(before.segments.map((each) => each.file)).toEqual([1, 2, 3, 4].map(segmentFileName));
  });

  test("an output older than every kept segment sorts first", () => {
    const before: ShardManifest = { ...validManifest(), segments: [segment(1), segment(2)] };
    const output = segment(5, { minSeq: 101, maxSeq: 200 });
    expect(withCompaction(before, [segment(1).file], output).segments).toEqual([output, segment(2)]);
  });

  test.each([
    ["an input not in the manifest", [segmentFileName(1), segmentFileName(9)]],
    ["only unknown inputs", [segmentFileName(9)]],
  ])("refuses %s", (_what, inputs) => {
    expect(thrown(() => withCompaction(validManifest(), inputs, segment(5)))).toEqual(manifestError(`compaction inputs ${inputs.join(",")} are not all in the manifest`));
  });
});

describe("validateManifest", () => {
  test("accepts a valid manifest and returns it", () => {
    expect(validateManifest(validManifest(), 3)).toEqual(validManifest());
  });

  const CORRUPTIONS: [string, (manifest: any) => unknown, string][] = [
    ["null", () => null, "not an object"],
    ["a string", () => "manifest", "not an object"],
    ["a number", () => 42, "not an object"],
    ["wrong version", (manifest) => ({ ...manifest, version: 2 }), "unsupported version 2"],
    ["missing version", (manifest) => ({ ...manifest, version: undefined }), "unsupported version undefined"],
    ["version as text", (manifest) => ({ ...manifest, version: "1" }), "unsupported version 1"],
    ["wrong shard", (manifest) => ({ ...manifest, shard: 4 }), "belongs to shard 4"],
    ["negative lastSeq", (manifest) => ({ ...manifest, lastSeq: -1 }), "bad lastSeq"],
    ["fractional lastSeq", (manifest) => ({ ...manifest, lastSeq: 300.5 }), "bad lastSeq"],
    ["lastSeq as text", (manifest) => ({ ...manifest, lastSeq: "300" }), "bad lastSeq"],
    ["lastSeq past 2^53", (manifest) => ({ ...manifest, lastSeq: 2 ** 53 }), "bad lastSeq"],
    ["negative walFloor", (manifest) => ({ ...manifest, walFloor: -1 }), "bad walFloor"],
    ["walFloor as text", (manifest) => ({ ...manifest, walFloor: "300" }), "bad walFloor"],
    ["nextSegmentNumber 0", (manifest) => ({ ...manifest, nextSegmentNumber: 0 }), "bad nextSegmentNumber"],
    ["nextSegmentNumber NaN", (manifest) => ({ ...manifest, nextSegmentNumber: Number.NaN }), "bad nextSegmentNumber"],
    ["segments not a list", (manifest) => ({ ...manifest, segments: {} }), "segments is not a list"],
    ["segment file with a path", (manifest) => ({ ...manifest, segments: [segment(1, { file: "../seg-0000000001.parquet" })] }), 'bad segment file "../seg-0000000001.parquet"'],
    ["segment file with a short number", (manifest) => ({ ...manifest, segments: [segment(1, { file: "seg-1.parquet" })] }), 'bad segment file "seg-1.parquet"'],
    ["segment file with a quote", (manifest) => ({ ...manifest, segments: [segment(1, { file: "seg-0000000001'.parquet" })] }), "bad segment file \"seg-0000000001'.parquet\""],
    ["segment file missing", (manifest) => ({ ...manifest, segments: [{ ...segment(1), file: undefined }] }), "bad segment file undefined"],
    ["fractional rows", (manifest) => ({ ...manifest, segments: [segment(1, { rows: 1.5 })] }), "segment seg-0000000001.parquet: bad rows"],
    ["bytes as text", (manifest) => ({ ...manifest, segments: [{ ...segment(1), bytes: "10" }] }), "segment seg-0000000001.parquet: bad bytes"],
    ["minTs missing", (manifest) => ({ ...manifest, segments: [{ ...segment(1), minTs: undefined }] }), "segment seg-0000000001.parquet: bad minTs"],
    ["maxTs infinite", (manifest) => ({ ...manifest, segments: [segment(1, { maxTs: Number.POSITIVE_INFINITY })] }), "segment seg-0000000001.parquet: bad maxTs"],
    ["minSeq null", (manifest) => ({ ...manifest, segments: [{ ...segment(1), minSeq: null }] }), "segment seg-0000000001.parquet: bad minSeq"],
    ["maxSeq fractional", (manifest) => ({ ...manifest, segments: [segment(1, { maxSeq: 150.25 })] }), "segment seg-0000000001.parquet: bad maxSeq"],
    ["level as text", (manifest) => ({ ...manifest, segments: [{ ...segment(1), level: "0" }] }), "segment seg-0000000001.parquet: bad level"],
    ["minSeq above maxSeq", (manifest) => ({ ...manifest, segments: [segment(1, { minSeq: 200, maxSeq: 199 })] }), "segment seg-0000000001.parquet: sequences out of range"],
    ["segment maxSeq above lastSeq", (manifest) => ({ ...manifest, segments: [segment(1), segment(2, { maxSeq: 301 })] }), "segment seg-0000000002.parquet: sequences out of range"],
    ["tenants not a list", (manifest) => ({ ...manifest, segments: [{ ...segment(1), tenants: "default" }] }), "segment seg-0000000001.parquet: bad tenants"],
  ];

  test.each(CORRUPTIONS)("rejects %s", (_what, corrupt, reason) => {
    const corrupted = corrupt(validManifest());
    expect(thrown(() => validateManifest(corrupted, 3))).toEqual(manifestError(`manifest of shard 3: ${reason}`));
  });

  // A null entry once surfaced as a TypeError from `segment.file`; it must be a ManifestError.
  test("rejects a segment entry that is null with a ManifestError", () => {
    expect(thrown(() => validateManifest({ ...validManifest(), segments: [null] }, 3))).toMatchObject({ error: "ManifestError", code: "manifest_corrupt" });
  });
});

describe("on disk", () => {
  const directory = mkdtempSync(join(tmpdir(), "sluice-manifest-"));
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  test("writeManifest then readManifest round-trips the manifest and leaves no temporary file", async () => {
    const path = join(directory, "round-trip.json");
    const manifest = withSealedSegment(validManifest(), segment(3, { tenants: ["acme", "default"] }), 400);
    await writeManifest(path, manifest);
    expect(readManifest(path, 3)).toEqual(manifest);
    expect(existsSync(`${path}.tmp`)).toBe(false);
  });

  test("a second write replaces the first", async () => {
    const path = join(directory, "replace.json");
    await writeManifest(path, validManifest());
    const next = withSealedSegment(validManifest(), segment(3), 400);
    await writeManifest(path, next);
    expect(readManifest(path, 3)).toEqual(next);
  });

  test("a missing file reads as the empty manifest of the shard", () => {
    expect(readManifest(join(directory, "missing.json"), 7)).toEqual(emptyManifest(7));
  });

  test.each([
    ["cut in half", (text: string) => text.slice(0, Math.floor(text.length / 2))],
    ["missing its last byte", (text: string) => text.slice(0, -1)],
    ["empty", () => ""],
  ])("a manifest file %s is rejected as invalid JSON", async (_what, truncate) => {
    const path = join(directory, "truncated.json");
    await writeManifest(path, validManifest());
    writeFileSync(path, truncate(readFileSync(path, "utf8")));
    expect(thrown(() => readManifest(path, 3))).toEqual(manifestError(`manifest ${path} is not valid JSON`));
  });

  test("a well-formed file that fails validation is rejected, not read", async () => {
    const path = join(directory, "other-shard.json");
    await writeManifest(path, validManifest());
    expect(thrown(() => readManifest(path, 4))).toEqual(manifestError("manifest of shard 4: belongs to shard 3"));
  });

  test("writeManifest refuses an invalid manifest and writes nothing", async () => {
    const path = join(directory, "never-written.json");
    const invalid = { ...validManifest(), segments: [segment(1, { minSeq: 5, maxSeq: 4 })] };
    const refused = await writeManifest(path, invalid).then(
      () => new Error("expected a rejection"),
      (error: Error) => error,
    );
    expect(thrown(() => {
      throw refused;
    })).toEqual(manifestError("manifest of shard 3: segment seg-0000000001.parquet: sequences out of range"));
    expect([existsSync(path), existsSync(`${path}.tmp`)]).toEqual([false, false]);
  });
});
