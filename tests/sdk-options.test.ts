// Goal: the logger's options pass through one parser: named defaults fill what is not
// given, numbers are clamped to their documented ranges, conflicting or malformed
// options are refused with a LoggerError naming the option, and the result is frozen.
// The retry backoff doubles from its minimum to its cap with half of it random.
// Method: pure; parseLoggerOptions and retryDelayMs over tables.

import { describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { parseLoggerOptions, LoggerError, type LoggerOptions } from "../src/sdk/options.ts";
import { retryDelayMs } from "../src/sdk/shipper.ts";
import {
  LOGGER_BATCH_BYTES_MAX,
  LOGGER_BUFFER_EVENTS_MAX,
  LOGGER_IN_FLIGHT_BATCHES_MAX,
  LOGGER_RETRY_BACKOFF_MAX_MS,
  LOGGER_RETRY_BACKOFF_MIN_MS,
  LOGGER_RETRY_WINDOW_MS_MAX,
} from "../src/sdk/limits.ts";
import { WAL_DUPLICATE_WINDOW_MS } from "../src/protocol/limits.ts";

const SERVERS = "nats://127.0.0.1:4222";

describe("parseLoggerOptions", () => {
  test("defaults", () => {
    const { onError, producerId, ...parsed } = parseLoggerOptions({ servers: SERVERS });
    expect(parsed).toEqual({
      nc: undefined,
      servers: SERVERS,
      natsOptions: {},
      tenant: "default",
      service: "",
      hostname: hostname(),
      shards: undefined,
      format: "flatbuffers",
      compression: "none",
      bufferEventsMax: 100_000,
      bufferBytesMax: 32 * 1024 * 1024,
      batchEventsMax: 2000,
      batchBytesMax: 512 * 1024,
      batchAgeMs: 50,
      inFlightBatchesMax: 4,
      publishTimeoutMs: 5_000,
      retryWindowMs: 60_000,
      fullPolicy: "drop",
      blockTimeoutMs: 10_000,
      flowControl: true,
      flowWaitMaxMs: 60_000,
      flushOnExit: true,
      closeTimeoutMs: 10_000,
    });
    expect(typeof onError).toBe("function");
    expect(producerId).toMatch(/^[0-9a-f]{32}$/);
    expect(Object.isFrozen(parseLoggerOptions({ servers: SERVERS }))).toBe(true);
  });

  test("two loggers get different producer ids, so their message ids never collide", () => {
    expect(parseLoggerOptions({ servers: SERVERS }).producerId).not.toBe(parseLoggerOptions({ servers: SERVERS }).producerId);
  });

  test("a small buffer lowers the default batch to fit in it", () => {
    const parsed = parseLoggerOptions({ servers: SERVERS, bufferEventsMax: 10, bufferBytesMax: 4096 });
    expect([parsed.batchEventsMax, parsed.batchBytesMax]).toEqual([10, 4096]);
  });

  test.each<[string, LoggerOptions, Partial<Record<keyof LoggerOptions, unknown>>]>([
    ["bufferEventsMax above its bound", { bufferEventsMax: 1e12 }, { bufferEventsMax: LOGGER_BUFFER_EVENTS_MAX }],
    ["batchBytesMax above its bound", { batchBytesMax: 1e9, bufferBytesMax: 1e9 }, { batchBytesMax: LOGGER_BATCH_BYTES_MAX }],
    ["inFlightBatchesMax 0 and fractions", { inFlightBatchesMax: 0.5 }, { inFlightBatchesMax: 1 }],
    ["inFlightBatchesMax above its bound", { inFlightBatchesMax: 1000 }, { inFlightBatchesMax: LOGGER_IN_FLIGHT_BATCHES_MAX }],
    ["retryWindowMs past the duplicate window", { retryWindowMs: WAL_DUPLICATE_WINDOW_MS }, { retryWindowMs: LOGGER_RETRY_WINDOW_MS_MAX }],
    ["a negative batchAgeMs", { batchAgeMs: -5 }, { batchAgeMs: 0 }],
  ])("clamps %s", (_what, options, expected) => {
    expect(parseLoggerOptions({ servers: SERVERS, ...options })).toMatchObject(expected);
  });

  test.each<[string, LoggerOptions, string]>([
    ["neither nc nor servers", {}, "give exactly one of nc (a connection) and servers (URLs to connect to)"],
    ["both nc and servers", { servers: SERVERS, nc: {} as never }, "give exactly one of nc (a connection) and servers (URLs to connect to)"],
    ["a tenant that is no subject token", { servers: SERVERS, tenant: "a.b" }, 'tenant "a.b" must match [A-Za-z0-9_-]{1,64}'],
    ["a producer id with a dot", { servers: SERVERS, producerId: "p.1" }, 'producerId "p.1" must match ^[A-Za-z0-9_-]{1,64}$'],
    ["zero shards", { servers: SERVERS, shards: 0 }, "shards must be a positive integer, got 0"],
    ["an unknown format", { servers: SERVERS, format: "csv" as never }, 'format must be one of flatbuffers, ndjson, got "csv"'],
    ["an unknown compression", { servers: SERVERS, compression: "br" as never }, 'compression must be one of none, gzip, zstd, got "br"'],
    ["an unknown policy", { servers: SERVERS, fullPolicy: "drop-oldest" as never }, 'fullPolicy must be one of drop, block, got "drop-oldest"'],
    ["NaN", { servers: SERVERS, batchAgeMs: Number.NaN }, "batchAgeMs must be a finite number, got null"],
    ["a number as text", { servers: SERVERS, batchEventsMax: "10" as never }, 'batchEventsMax must be a finite number, got "10"'],
    ["a batch larger than the buffer", { servers: SERVERS, bufferEventsMax: 100, batchEventsMax: 101 }, "batchEventsMax 101 is over bufferEventsMax 100"],
    ["a batch of more bytes than the buffer", { servers: SERVERS, bufferBytesMax: 10_000, batchBytesMax: 20_000 }, "batchBytesMax 20000 is over bufferBytesMax 10000"],
    ["a service name past the label bound", { servers: SERVERS, service: "s".repeat(513) }, "service must be a string of at most 512 characters"],
  ])("refuses %s", (_what, options, message) => {
    let thrown: unknown;
    try {
      parseLoggerOptions(options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(LoggerError);
    expect({ code: (thrown as LoggerError).code, message: (thrown as LoggerError).message }).toEqual({ code: "bad_option", message });
  });
});

describe("retryDelayMs", () => {
  test.each<[number, number]>([
    [0, LOGGER_RETRY_BACKOFF_MIN_MS],
    [1, LOGGER_RETRY_BACKOFF_MIN_MS * 2],
    [3, LOGGER_RETRY_BACKOFF_MIN_MS * 8],
    [20, LOGGER_RETRY_BACKOFF_MAX_MS],
    [10_000, LOGGER_RETRY_BACKOFF_MAX_MS],
  ])("attempt %p waits between half of %p ms and all of it", (attempt, ceiling) => {
    expect([retryDelayMs(attempt, () => 0), retryDelayMs(attempt, () => 1)]).toEqual([ceiling / 2, ceiling]);
  });
});
