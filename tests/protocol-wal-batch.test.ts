// Goal: the WAL batch codec round-trips every event exactly, and rejects every kind of
// bad input with its own code instead of throwing or returning wrong events.
// Method: whole-object round trips over a table of edge cases; a cross-check against
// the generated FlatBuffers readers and, when installed, flatc; hand-crafted batches
// (built with the generated builders, bypassing encodeBatch's checks) for each error
// code; and a seeded fuzz loop of mutations, including ones that fix up the CRC so
// that corrupt payloads reach the inner walk.

import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Builder, ByteBuffer } from "flatbuffers";
import { LEVELS, type Level, type NormalizedEvent } from "../src/protocol/event.ts";
import { Batch } from "../src/protocol/generated/sluice/wal/batch.ts";
import { Event } from "../src/protocol/generated/sluice/wal/event.ts";
import { EventList } from "../src/protocol/generated/sluice/wal/event-list.ts";
import { WAL_BATCH_BYTES_MAX, WAL_BATCH_EVENTS_MAX, WAL_STRING_BYTES_MAX } from "../src/protocol/limits.ts";
import {
  WAL_BATCH_VERSION,
  WalBatchEncodeError,
  crc32,
  crc32Portable,
  decodeBatch,
  encodeBatch,
  isWalBatch,
} from "../src/protocol/wal-batch.ts";
import { seeded } from "./helpers/random.ts";

const SCHEMA_PATH = join(import.meta.dir, "../src/protocol/wal-batch.fbs");

function event(overrides: Partial<NormalizedEvent> = {}): NormalizedEvent {
  return {
    timestampUs: 1_700_000_000_123_456,
    level: "INFO",
    service: "payment-service",
    hostname: "host-12",
    traceId: "4bf92f3577b34da6a3ce929d0e0e4736",
    spanId: "00f067aa0ba902b7",
    message: "Processed payment for order ord-100042 amount=42.50 currency=USD status=approved latency_ms=12",
    metadata: '{"user_id":123,"path":"/api/pay"}',
    ...overrides,
  };
}

/** Seed-shaped events: shared service and hostname, unique ids and messages. */
function seedEvents(count: number): NormalizedEvent[] {
  return Array.from({ length: count }, (_, index) =>
    event({
      timestampUs: 1_700_000_000_000_000 + index * 1000,
      level: LEVELS[index % LEVELS.length]!,
      traceId: index.toString(16).padStart(32, "0"),
      spanId: (index * 7).toString(16).padStart(16, "0"),
      message: `request ${index} done`.padEnd(100, "."),
    }),
  );
}

function expectDecoded(bytes: Uint8Array): NormalizedEvent[] {
  const result = decodeBatch(bytes);
  if (!result.ok) throw new Error(`decode failed: ${result.code}: ${result.error}`);
  return result.events;
}

function expectRejected(bytes: Uint8Array): { code: string; error: string } {
  const result = decodeBatch(bytes);
  if (result.ok) throw new Error(`decode accepted ${result.events.length} events`);
  return { code: result.code, error: result.error };
}

// ---------------------------------------------------------------------------------
// Crafting batches by hand, with the generated builders and no codec checks.

interface CraftedEvent {
  timestampUs?: bigint;
  level?: number;
  /** String offsets from builder.createString, by field. */
  message?: number;
  service?: number;
}

function craftEvent(builder: Builder, fields: CraftedEvent): number {
  Event.startEvent(builder);
  if (fields.timestampUs !== undefined) Event.addTimestampUs(builder, fields.timestampUs);
  if (fields.level !== undefined) Event.addLevel(builder, fields.level);
  if (fields.service !== undefined) Event.addService(builder, fields.service);
  if (fields.message !== undefined) Event.addMessage(builder, fields.message);
  return Event.endEvent(builder);
}

/** A finished EventList buffer; `writeEvents` returns the offsets of the events it wrote. */
function craftPayload(writeEvents: (builder: Builder) => number[]): Uint8Array {
  const builder = new Builder(1024);
  const offsets = writeEvents(builder);
  const vector = EventList.createEventsVector(builder, offsets);
  builder.finish(EventList.createEventList(builder, vector));
  return builder.asUint8Array().slice();
}

/** A Batch envelope around `payload`, with a correct CRC unless one is given. */
function craftBatch(options: { payload: Uint8Array | null; count: number; version?: number; checksum?: number }): Uint8Array {
  const builder = new Builder(1024);
  const payloadOffset = options.payload ? builder.createByteVector(options.payload) : 0;
  const checksum = options.checksum ?? (options.payload ? crc32(options.payload) : 0);
  Batch.startBatch(builder);
  Batch.addVersion(builder, options.version ?? WAL_BATCH_VERSION);
  Batch.addCount(builder, options.count);
  Batch.addCrc32(builder, checksum);
  if (payloadOffset) Batch.addPayload(builder, payloadOffset);
  Batch.finishBatchBuffer(builder, Batch.endBatch(builder));
  return builder.asUint8Array().slice();
}

function payloadOf(bytes: Uint8Array): Uint8Array {
  const payload = Batch.getRootAsBatch(new ByteBuffer(bytes)).payloadArray();
  if (!payload) throw new Error("batch has no payload");
  return payload;
}

// ---------------------------------------------------------------------------------

describe("round trip", () => {
  const multiByteAtLimit = "é".repeat(WAL_STRING_BYTES_MAX / 2);
  const asciiAtLimit = "x".repeat(WAL_STRING_BYTES_MAX);
  test.each<[string, NormalizedEvent[]]>([
    ["an empty batch", []],
    ["one seed event", [event()]],
    ["1000 seed-shaped events", seedEvents(1000)],
    ["every level", LEVELS.map((level) => event({ level }))],
    [
      "unicode in every string",
      [
        event({
          service: "сервис-платежей",
          hostname: "主机-12",
          traceId: "ü".repeat(16),
          spanId: "🚀",
          message: "naïve café ✓ 日本語 \u0301 emoji 👩‍👩‍👧 NUL\u0000inside",
          metadata: '{"name":"Zoë","city":"Zürich 🇨🇭"}',
        }),
      ],
    ],
    [
      "empty strings",
      [event({ service: "", hostname: "", traceId: "", spanId: "", message: "", metadata: "" }), event({ metadata: "{}" })],
    ],
    [
      "every string at the length limit",
      [event({ service: asciiAtLimit, hostname: multiByteAtLimit, traceId: asciiAtLimit, spanId: multiByteAtLimit, message: asciiAtLimit, metadata: multiByteAtLimit })],
    ],
    [
      "edge timestamps",
      [0, 1, -1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, -(2 ** 32), 4_102_444_800_000_000, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER].map(
        (timestampUs) => event({ timestampUs }),
      ),
    ],
    [
      "strings repeated non-consecutively and across fields",
      [event({ message: "a" }), event({ message: "b", service: "a" }), event({ message: "a", hostname: "b" }), event({ message: "a" })],
    ],
  ])("%s", (_name, events) => {
    expect(expectDecoded(encodeBatch(events))).toEqual(events);
  });

  test("a batch read from a view at an odd offset of a larger buffer", () => {
    const events = seedEvents(10);
    const bytes = encodeBatch(events);
    const larger = new Uint8Array(bytes.length + 10);
    larger.set(bytes, 3);
    expect(expectDecoded(larger.subarray(3, 3 + bytes.length))).toEqual(events);
  });

  test("the encoded bytes belong to the caller: a later encode does not change them", () => {
    const first = seedEvents(3);
    const bytes = encodeBatch(first);
    encodeBatch(seedEvents(50).reverse());
    expect(expectDecoded(bytes)).toEqual(first);
  });

  test("the generated FlatBuffers readers read what encodeBatch writes", () => {
    const events = [...seedEvents(5), event({ timestampUs: -1, level: "TRACE" }), event({ timestampUs: 0 })];
    const bytes = encodeBatch(events);
    const batch = Batch.getRootAsBatch(new ByteBuffer(bytes));
    expect(Batch.bufferHasIdentifier(new ByteBuffer(bytes))).toBe(true);
    expect({ version: batch.version(), count: batch.count(), crc32: batch.crc32() }).toEqual({
      version: WAL_BATCH_VERSION,
      count: events.length,
      crc32: crc32(payloadOf(bytes)),
    });
    expect(payloadOf(bytes).byteOffset % 8).toBe(0);
    const list = EventList.getRootAsEventList(new ByteBuffer(payloadOf(bytes)));
    const read = Array.from({ length: list.eventsLength() }, (_, index) => {
      const generated = list.events(index)!;
      return {
        timestampUs: Number(generated.timestampUs()),
        level: LEVELS[generated.level()]!,
        service: generated.service(),
        hostname: generated.hostname(),
        traceId: generated.traceId(),
        spanId: generated.spanId(),
        message: generated.message(),
        metadata: generated.metadata(),
      };
    });
    expect(read).toEqual(events);
  });

  test.skipIf(!Bun.which("flatc"))("flatc, the reference implementation, reads what encodeBatch writes (skipped without flatc)", () => {
    const events = [event({ level: "FATAL", message: "ünïcode ✓" }), event({ timestampUs: 0, level: "TRACE", hostname: "" })];
    const directory = mkdtempSync(join(tmpdir(), "sluice-wal-batch-"));
    try {
      writeFileSync(join(directory, "batch.bin"), encodeBatch(events));
      const flatc = Bun.spawnSync(["flatc", "--json", "--strict-json", "--defaults-json", "-o", directory, SCHEMA_PATH, "--", join(directory, "batch.bin")]);
      expect(flatc.stderr.toString()).toBe("");
      const json = JSON.parse(readFileSync(join(directory, "batch.json"), "utf8"));
      expect(json.payload.events).toEqual(
        events.map((source) => ({
          timestamp_us: source.timestampUs,
          level: source.level,
          service: source.service,
          hostname: source.hostname,
          trace_id: source.traceId,
          span_id: source.spanId,
          message: source.message,
          metadata: source.metadata,
        })),
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe("encodeBatch refuses what it must not write", () => {
  const over = "x".repeat(WAL_STRING_BYTES_MAX + 1);
  test.each<[string, () => NormalizedEvent[], WalBatchEncodeError["code"], string]>([
    ["a string one byte over the limit", () => [event({ message: over })], "over_limit", `${WAL_STRING_BYTES_MAX + 1}-byte message`],
    ["a multi-byte string one byte over the limit", () => [event({ metadata: "é".repeat(WAL_STRING_BYTES_MAX / 2) + "x" })], "over_limit", "metadata"],
    ["too many events", () => new Array<NormalizedEvent>(WAL_BATCH_EVENTS_MAX + 1).fill(event()), "over_limit", `${WAL_BATCH_EVENTS_MAX + 1} events`],
    [
      "more bytes than a batch may hold",
      () => Array.from({ length: 40 }, (_, index) => event({ message: String(index).padEnd(WAL_STRING_BYTES_MAX, "m") })),
      "over_limit",
      `${WAL_BATCH_BYTES_MAX} bytes`,
    ],
    ["an unknown level", () => [event({ level: "NOTICE" as Level })], "invalid_event", '"NOTICE"'],
    ["a fractional timestamp", () => [event({ timestampUs: 1.5 })], "invalid_event", "1.5"],
    ["a timestamp beyond the safe integers", () => [event({ timestampUs: 2 ** 53 })], "invalid_event", "timestampUs"],
    ["a missing string", () => [event({ traceId: undefined as unknown as string })], "invalid_event", "traceId of type undefined"],
  ])("%s", (_name, makeEvents, code, messagePart) => {
    const events = makeEvents();
    let thrown: unknown;
    try {
      encodeBatch(events);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(WalBatchEncodeError);
    expect((thrown as WalBatchEncodeError).code).toBe(code);
    expect((thrown as WalBatchEncodeError).message).toContain(messagePart);
    // The shared builders recover: the next batch encodes normally.
    expect(expectDecoded(encodeBatch([event()]))).toEqual([event()]);
  });
});

describe("decodeBatch rejects bad input with its code", () => {
  const good = encodeBatch(seedEvents(3));

  test.each<[string, () => Uint8Array, string, string]>([
    ["empty input", () => new Uint8Array(0), "not_a_batch", "SLB1"],
    ["JSON text", () => new TextEncoder().encode('[{"message":"hello"}]'), "not_a_batch", "SLB1"],
    [
      "a wrong file identifier",
      () => {
        const bytes = good.slice();
        bytes[7] = "2".charCodeAt(0);
        return bytes;
      },
      "not_a_batch",
      "SLB1",
    ],
    ["a version from the future", () => craftBatch({ payload: payloadOf(good), count: 3, version: WAL_BATCH_VERSION + 1 }), "bad_version", "version is 2"],
    ["no version", () => craftBatch({ payload: payloadOf(good), count: 3, version: 0 }), "bad_version", "version is 0"],
    [
      "a flipped payload byte",
      () => {
        const bytes = good.slice();
        const payload = payloadOf(bytes);
        payload[payload.length >> 1]! ^= 0x01;
        return bytes;
      },
      "checksum_mismatch",
      "CRC-32",
    ],
    ["a wrong checksum", () => craftBatch({ payload: payloadOf(good), count: 3, checksum: 12345 }), "checksum_mismatch", "0x00003039"],
    ["the last byte cut off", () => good.subarray(0, good.length - 1), "truncated", "overruns"],
    ["only the header left", () => good.subarray(0, 12), "truncated", "overruns"],
    ["a count over the limit", () => craftBatch({ payload: payloadOf(good), count: WAL_BATCH_EVENTS_MAX + 1 }), "over_limit", `${WAL_BATCH_EVENTS_MAX + 1}`],
    [
      "more bytes than a batch may hold",
      () => {
        const bytes = new Uint8Array(WAL_BATCH_BYTES_MAX + 1);
        bytes.set(good);
        return bytes;
      },
      "over_limit",
      `${WAL_BATCH_BYTES_MAX}`,
    ],
    [
      "a string over the limit",
      () => {
        const payload = craftPayload((builder) => [
          craftEvent(builder, { message: builder.createString(new Uint8Array(WAL_STRING_BYTES_MAX + 1).fill(0x61)) }),
        ]);
        return craftBatch({ payload, count: 1 });
      },
      "over_limit",
      `${WAL_STRING_BYTES_MAX + 1} bytes in field message`,
    ],
    [
      "shared strings that would decode to more than the payload holds",
      () => {
        const payload = craftPayload((builder) => {
          const first = builder.createString("a".repeat(100_000));
          const second = builder.createString("b".repeat(100_000));
          return Array.from({ length: 100 }, (_, index) => craftEvent(builder, { message: index % 2 ? first : second }));
        });
        return craftBatch({ payload, count: 100 });
      },
      "over_limit",
      "more bytes than the payload",
    ],
    ["a count that disagrees with the events", () => craftBatch({ payload: payloadOf(good), count: 4 }), "malformed", "count is 4"],
    ["no payload", () => craftBatch({ payload: null, count: 0 }), "malformed", "no payload"],
    [
      "a payload that is not an event list",
      () => craftBatch({ payload: new Uint8Array([0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4]), count: 0 }),
      "malformed",
      "payload root",
    ],
    [
      "a level out of range",
      () => craftBatch({ payload: craftPayload((builder) => [craftEvent(builder, { level: LEVELS.length })]), count: 1 }),
      "malformed",
      `level ${LEVELS.length}`,
    ],
    [
      "a timestamp beyond the safe integers",
      () => craftBatch({ payload: craftPayload((builder) => [craftEvent(builder, { timestampUs: 2n ** 53n })]), count: 1 }),
      "malformed",
      "safe integer",
    ],
  ])("%s", (_name, makeBytes, code, messagePart) => {
    const rejection = expectRejected(makeBytes());
    expect(rejection.code).toBe(code);
    expect(rejection.error).toContain(messagePart);
  });

  test("every cut of a batch past its header is truncated", () => {
    const codes = new Set<string>();
    for (let length = 8; length < good.length; length++) codes.add(expectRejected(good.subarray(0, length)).code);
    expect([...codes]).toEqual(["truncated"]);
  });

  test("a crafted batch with absent fields reads them as defaults", () => {
    const payload = craftPayload((builder) => [craftEvent(builder, {})]);
    expect(expectDecoded(craftBatch({ payload, count: 1 }))).toEqual([
      { timestampUs: 0, level: "TRACE", service: "", hostname: "", traceId: "", spanId: "", message: "", metadata: "" },
    ]);
  });
});

describe("isWalBatch", () => {
  test.each<[string, Uint8Array, boolean]>([
    ["a batch", encodeBatch([event()]), true],
    ["an empty batch", encodeBatch([]), true],
    ["seven bytes", encodeBatch([event()]).subarray(0, 7), false],
    ["JSON", new TextEncoder().encode('{"message":"SLB1 SLB1"}'), false],
    ["the identifier at the wrong place", new TextEncoder().encode("SLB1SLB"), false],
  ])("%s", (_name, bytes, expected) => {
    expect(isWalBatch(bytes)).toBe(expected);
  });
});

describe("CRC-32", () => {
  test("matches the standard check value and zlib's empty input", () => {
    const check = new TextEncoder().encode("123456789");
    expect({ native: crc32(check), portable: crc32Portable(check), empty: crc32Portable(new Uint8Array(0)) }).toEqual({
      native: 0xcbf43926,
      portable: 0xcbf43926,
      empty: 0,
    });
  });

  test("Bun.hash.crc32 and the portable implementation agree on every length up to 100 and on a large buffer", () => {
    const random = seeded(7);
    const bytes = Uint8Array.from({ length: 300_001 }, () => random() * 256);
    for (let length = 0; length <= 100; length++) {
      const slice = bytes.subarray(length, length * 2);
      expect(crc32Portable(slice)).toBe(Bun.hash.crc32(slice));
    }
    expect(crc32Portable(bytes)).toBe(Bun.hash.crc32(bytes));
  });
});

describe("fuzz", () => {
  const base = encodeBatch([
    event({ level: "ERROR", message: "naïve ✓" }),
    event({ timestampUs: 0, level: "TRACE", traceId: "", metadata: "{}" }),
    event({ timestampUs: -42, hostname: "host-13" }),
    event({ level: "FATAL" }),
  ]);
  const basePayload = payloadOf(base).slice();

  /** Makes a mutated batch from a seeded random source, and lists the outcomes it may have. */
  interface Mutation {
    make(random: () => number): Uint8Array;
    outcomes: readonly string[];
  }
  const anyOutcome = ["ok", "not_a_batch", "bad_version", "checksum_mismatch", "truncated", "over_limit", "malformed"];
  // Behind a correct CRC, only the inner walk can reject.
  const innerOutcomes = ["ok", "over_limit", "malformed"];
  const pick = (random: () => number, below: number) => Math.floor(random() * below);
  const mutateBytes = (source: Uint8Array, random: () => number): Uint8Array => {
    const bytes = source.slice();
    const changes = 1 + pick(random, 4);
    for (let change = 0; change < changes; change++) {
      const at = pick(random, bytes.length);
      bytes[at] = random() < 0.5 ? bytes[at]! ^ (1 << pick(random, 8)) : pick(random, 256);
    }
    return bytes;
  };
  const mutations: Record<string, Mutation> = {
    "flip bytes of the batch": { make: (random) => mutateBytes(base, random), outcomes: anyOutcome },
    "truncate the batch": { make: (random) => base.subarray(0, pick(random, base.length)), outcomes: ["not_a_batch", "truncated"] },
    // Bytes after a FlatBuffer's end are not part of it.
    "append to the batch": {
      make: (random) => Uint8Array.from([...base, ...Array.from({ length: 1 + pick(random, 16) }, () => pick(random, 256))]),
      outcomes: ["ok"],
    },
    // Re-wrapping with a correct CRC gets corrupt payloads past the checksum.
    "flip payload bytes, fix the CRC": {
      make: (random) => craftBatch({ payload: mutateBytes(basePayload, random), count: 4 }),
      outcomes: innerOutcomes,
    },
    "truncate the payload, fix the CRC": {
      make: (random) => craftBatch({ payload: basePayload.subarray(0, pick(random, basePayload.length)), count: 4 }),
      outcomes: innerOutcomes,
    },
    "random bytes behind the identifier and a root offset inside them": {
      make: (random) => {
        const bytes = Uint8Array.from({ length: 8 + pick(random, 200) }, () => pick(random, 256));
        new DataView(bytes.buffer).setUint32(0, pick(random, bytes.length), true);
        bytes.set([0x53, 0x4c, 0x42, 0x31], 4);
        return bytes;
      },
      outcomes: anyOutcome,
    },
  };

  test.each(Object.keys(mutations))("%s: 1000 cases never throw, and what is accepted is valid", (name) => {
    const mutation = mutations[name]!;
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 1000; seed++) {
      const bytes = mutation.make(seeded(seed));
      let result: ReturnType<typeof decodeBatch>;
      try {
        result = decodeBatch(bytes);
      } catch (error) {
        throw new Error(`${name}, seed ${seed}: decodeBatch threw ${String(error)}`);
      }
      outcomes.add(result.ok ? "ok" : result.code);
      if (result.ok) {
        for (const decoded of result.events) expect(LEVELS).toContain(decoded.level);
        // Whatever the decoder accepts, the encoder can write again.
        expect(expectDecoded(encodeBatch(result.events))).toEqual(result.events);
      }
    }
    expect(mutation.outcomes).toEqual(expect.arrayContaining([...outcomes]));
  });

  test("payload mutations behind a correct CRC reach both of the inner walk's rejections", () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 1000; seed++) {
      const result = decodeBatch(mutations["flip payload bytes, fix the CRC"]!.make(seeded(seed)));
      outcomes.add(result.ok ? "ok" : result.code);
    }
    expect([...outcomes].sort()).toEqual(["malformed", "ok", "over_limit"]);
  });
});
