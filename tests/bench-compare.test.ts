// Goal: the ingest comparison's pure parts do what its report claims: options start
// from the defaults (or --quick's) and refuse nonsense; per-5 s windows come out
// of the raw series a phase records; Sluice's figures are printed as ratios to
// ClickHouse's; the goals are checked against the right figures; and the pre-encoded
// load is stamped with the timestamps the systems then read back.
// Method: hand-made series and results; small pools encoded and parsed back. Nothing is
// timed and no server is started.

import { describe, expect, test } from "bun:test";
import { DEFAULTS, OptionsError, parseCompareOptions, QUICK } from "../scripts/bench-compare/options.ts";
import { clickhouseLine, encodeUnits, httpLine, makePoolSlice, postgresLine, sdkRecord, stampUnit } from "../scripts/bench-compare/pool.ts";
import { buildWindows, checkGoals, formatCpuLine, formatMs, formatRatio, formatTable, percentileOf, rssGrowth, type PhaseResult, type SystemResult } from "../scripts/bench-compare/report.ts";
import { copyText } from "../scripts/postgres/wire.ts";

describe("options", () => {
  test("default to the issue's sustained run: 60 s, 30M events, all systems, ClickHouse first", () => {
    const options = parseCompareOptions({});
    expect(options.seconds).toBe(60);
    expect(options.events).toBe(30_000_000);
    expect(options.systems).toEqual(["clickhouse", "sdk-flatbuffers", "sdk-ndjson", "http", "postgres"]);
    expect(Object.isFrozen(options)).toBe(true);
  });

  test("--quick takes its own defaults, and explicit flags still win", () => {
    expect(parseCompareOptions({ quick: true }).seconds).toBe(QUICK.seconds!);
    expect(parseCompareOptions({ quick: true, seconds: 4 }).seconds).toBe(4);
  });

  test("--seconds alone lifts the cap; a cap below --seconds is refused", () => {
    expect(parseCompareOptions({ seconds: 300 }).secondsMax).toBe(300);
    expect(parseCompareOptions({ seconds: 30 }).secondsMax).toBe(DEFAULTS.secondsMax);
    expect(() => parseCompareOptions({ seconds: 100, secondsMax: 50 })).toThrow(OptionsError);
  });

  test.each([
    [{ systems: "postgres,http" }, ["http", "postgres"]],
    [{ systems: "clickhouse" }, ["clickhouse"]],
  ])("--systems %p runs in the canonical order", (raw, systems) => {
    expect(parseCompareOptions(raw).systems).toEqual(systems as never);
  });

  test.each([[{ systems: "mysql" }], [{ seconds: "soon" }], [{ producers: 3, poolEvents: 500_000 }]])("refuses %p", (raw) => {
    expect(() => parseCompareOptions(raw)).toThrow(OptionsError);
  });

  test("clamps numbers to their ranges", () => {
    expect(parseCompareOptions({ httpInFlight: 100_000, probeIntervalMs: 1 })).toMatchObject({ httpInFlight: 256, probeIntervalMs: 10 });
  });
});

describe("windows", () => {
  const startAtMs = 1_000_000;
  test("rates, ack p99, probe p99 and memory per 5 s window; a last window under a second is dropped", () => {
    const windows = buildWindows({
      startAtMs,
      endAtMs: startAtMs + 10_500,
      acked: [
        { atMs: startAtMs + 2_500, acked: 100_000 },
        { atMs: startAtMs + 5_000, acked: 500_000 },
        { atMs: startAtMs + 10_000, acked: 1_000_000 },
      ],
      ackLatencies: [
        { atMs: startAtMs + 1_000, ms: 2 },
        { atMs: startAtMs + 4_000, ms: 9 },
        { atMs: startAtMs + 6_000, ms: 3 },
      ],
      probes: [{ sentAtMs: startAtMs + 7_000, latencyMs: 250 }],
      serverRss: [
        { atMs: startAtMs + 4_000, mb: 800 },
        { atMs: startAtMs + 9_000, mb: 900 },
      ],
    });
    expect(windows).toEqual([
      { t_s: 5, seconds: 5, events_per_s: 100_000, ack_p99_ms: 9, searchable_p99_ms: null, server_rss_mb: 800 },
      { t_s: 10, seconds: 5, events_per_s: 100_000, ack_p99_ms: 3, searchable_p99_ms: 250, server_rss_mb: 900 },
    ]);
  });

  test("nearest-rank percentiles", () => {
    expect(percentileOf([], 99)).toBeNull();
    expect(percentileOf([5, 1, 3, 2, 4], 50)).toBe(3);
    expect(percentileOf(Array.from({ length: 100 }, (_, index) => index + 1), 99)).toBe(99);
  });

  test("memory growth is measured from a third into the run", () => {
    const window = (mb: number) => ({ t_s: 0, seconds: 5, events_per_s: 0, ack_p99_ms: null, searchable_p99_ms: null, server_rss_mb: mb });
    expect(rssGrowth([window(100), window(1000), window(1000), window(1100)].slice(0, 2))).toBeNull();
    expect(rssGrowth([window(100), window(1000), window(1000), window(1100)])).toBe(0.1);
  });
});

function phase(overrides: Partial<PhaseResult>): PhaseResult {
  const latency = { p50: 1, p99: 5, p999: 9, max: 12, count: 100 };
  return {
    kind: "max",
    rate_cap: 0,
    events_target: 1000,
    ran_by_time: false,
    events_sent: 1000,
    events_acked: 1000,
    events_failed: 0,
    retries: 0,
    refused: 0,
    dropped: 0,
    send_seconds: 1,
    queryable_seconds: 1,
    sustained_events_per_s: 1000,
    acked_events_per_s: 1000,
    ack_ms: latency,
    searchable_ms: latency,
    probes: { sent: 10, found: 10, missing: 0, failed: 0, skipped: 0 },
    peak_server_rss_mb: 1000,
    peak_rss_mb: { server: 1000 },
    cpu_seconds: { server: 1, bench: 1 },
    windows: [],
    disk: { bytes: 10_000, rows: 1000, bytes_per_event: 10, detail: {} },
    ...overrides,
  };
}

describe("table and goals", () => {
  const clickhouse: SystemResult = { system: "clickhouse", label: "ClickHouse", max: phase({ sustained_events_per_s: 800_000 }), notes: [] };
  const sdk: SystemResult = {
    system: "sdk-flatbuffers",
    label: "Sluice SDK",
    max: phase({ sustained_events_per_s: 1_200_000, ack_ms: { p50: 2, p99: 10, p999: 18, max: 20, count: 50 }, disk: { bytes: 8000, rows: 1000, bytes_per_event: 8, detail: {} } }),
    half: phase({ kind: "half", rate_cap: 600_000, sustained_events_per_s: 599_000, ack_ms: { p50: 1, p99: 4, p999: 6, max: 7, count: 50 }, searchable_ms: { p50: 60, p99: 300, p999: 400, max: 410, count: 30 } }),
    notes: [],
  };

  test("Sluice's figures carry their ratio to ClickHouse's; ClickHouse's and PostgreSQL's do not", () => {
    const table = formatTable([clickhouse, sdk]).split("\n");
    expect(table[0]).toBe("| figure | ClickHouse | Sluice SDK |");
    expect(table.find((line) => line.startsWith("| **sustained events/s**"))).toBe("| **sustained events/s** | **800,000** | **1,200,000** (1.50×) |");
    expect(table.find((line) => line.startsWith("| ack p99 ms"))).toBe("| ack p99 ms | 5.0 | 10.0 (2.00×) |");
    expect(table.find((line) => line.startsWith("| disk bytes/event"))).toBe("| disk bytes/event | 10.0 | 8.0 (0.80×) |");
    expect(table.find((line) => line.startsWith("| at 50% load: ack"))).toBe("| at 50% load: ack p50 / p99 ms |  | 1.0 / 4.0 |");
  });

  test("without ClickHouse in the run there are no ratios", () => {
    expect(formatTable([sdk]).split("\n").find((line) => line.startsWith("| **sustained"))).toBe("| **sustained events/s** | **1,200,000** |");
  });

  test("goals are checked against the figures they name", () => {
    const goals = Object.fromEntries(checkGoals([clickhouse, sdk]).map((check) => [check.goal, check.met]));
    expect(goals["NATS + SDK sustained ≥ 1,000,000 events/s"]).toBe(true);
    expect(goals["NATS + SDK ≥ 1.0× ClickHouse's rate"]).toBe(true);
    expect(goals["Sluice SDK: ack p99 at 50% load < 10 ms"]).toBe(true);
    expect(goals["Sluice SDK: searchable at 50% load p50 < 100 ms, p99 < 500 ms"]).toBe(true);
    expect(goals["Sluice SDK: disk per event ≤ ClickHouse's"]).toBe(true);
    // Fewer than three windows: memory cannot be shown flat.
    expect(goals["Sluice SDK: server RSS at max load < 1.5 GB, flat (≤ +10% from 1/3 of the run)"]).toBe(false);
  });

  test.each([
    [0.123, "0.12"],
    [9.87, "9.9"],
    [123.4, "123"],
    [1234.5, "1,235"],
  ])("formatMs(%p) = %p", (ms, text) => {
    expect(formatMs(ms)).toBe(text);
  });

  test("ratios", () => {
    expect(formatRatio(3, 2)).toBe("1.50×");
    expect(formatRatio(25, 2)).toBe("12.5×");
    expect(formatRatio(1, 0)).toBe("n/a");
    expect(formatRatio(null, 2)).toBe("n/a");
  });
});

describe("the pre-encoded load", () => {
  const slice = makePoolSlice({ poolEvents: 3000, seed: 7, worker: 0, workers: 1 });
  const passStartUs = Date.UTC(2026, 10, 21, 10, 0, 0) * 1000;

  test("a thread's share of the pool does not depend on how many threads there are", () => {
    // Two chunks of gen-dataset's 250,000 events: the second thread makes the second.
    const alone = makePoolSlice({ poolEvents: 260_000, seed: 7, worker: 0, workers: 1 });
    const second = makePoolSlice({ poolEvents: 260_000, seed: 7, worker: 1, workers: 2 });
    expect(second.events[0]).toEqual(alone.events[250_000]);
    expect(second.indices[0]).toBe(250_000);
  });

  test("HTTP and ClickHouse lines carry the pass's timestamps and the event's fields", () => {
    for (const line of [httpLine, clickhouseLine]) {
      const units = encodeUnits(slice, 1000, line, "epoch-us");
      expect(units.map((unit) => unit.events)).toEqual([1000, 1000, 1000]);
      stampUnit(units[1], passStartUs);
      const rows = new TextDecoder().decode(units[1].bytes).trimEnd().split("\n").map((text) => JSON.parse(text));
      expect(rows[0].timestamp ?? rows[0].timestamp_us).toBe(passStartUs + 1000);
      expect(rows[999].timestamp ?? rows[999].timestamp_us).toBe(passStartUs + 1999);
      expect(rows[5].message).toBe(slice.events[1005].message);
      const metadata = typeof rows[5].metadata === "string" ? rows[5].metadata : JSON.stringify(rows[5].metadata);
      expect(JSON.parse(metadata)).toEqual(JSON.parse(slice.events[1005].metadata));
    }
  });

  test("COPY rows carry timestamptz text and escaped values", () => {
    const [unit] = encodeUnits(slice, 3000, postgresLine, "copy-text");
    stampUnit(unit, passStartUs + 999_999);
    const lines = new TextDecoder().decode(unit.bytes).trimEnd().split("\n");
    expect(lines[0].split("\t")[0]).toBe("2026-11-21 10:00:00.999999+00");
    expect(lines[1].split("\t")[0]).toBe("2026-11-21 10:00:01.000000+00");
    expect(lines.every((line) => line.split("\t").length === 8)).toBe(true);
    expect(copyText("a\\b\tc\nd\re")).toBe("a\\\\b\\tc\\nd\\re");
  });

  test("SDK records hold what HTTP ingest takes", () => {
    const record = sdkRecord(slice.events[0]);
    expect(record).toEqual({ timestamp: 0, level: slice.events[0].level, service: slice.events[0].service, hostname: slice.events[0].hostname, trace_id: slice.events[0].traceId, span_id: slice.events[0].spanId, message: slice.events[0].message, metadata: JSON.parse(slice.events[0].metadata) });
  });
});

describe("where the CPU went", () => {
  test("names each server process, the node's busiest threads and the server's own work", () => {
    const result: SystemResult = {
      system: "sdk-flatbuffers",
      label: "Sluice SDK",
      max: phase({ queryable_seconds: 10, cpu_seconds: { server: 15, node: 13, nats_server: 2, bench: 3, machine: 19, other: 1 }, threads_cpu_seconds: { node: { "Bun Pool #": 9, "bun.exe": 3, JITWorker: 0.5, HeapHelper: 0.2 }, bench: { Worker: 2.5 } }, server_work: { storage_seal_ms: 1200 } }),
      notes: [],
    };
    expect(formatCpuLine(result)).toBe("Sluice SDK: CPU s over 10 s (machine 19, 1.90 cores busy); node 13 (Bun Pool # 9, bun.exe 3, JITWorker 0.5); nats_server 2; benchmark process 3 (Worker 2.5); server work storage_seal_ms 1,200");
  });
});
