// Goal: logctl's pure parts behave exactly: how events, health, errors and ingest
// summaries print; how input bytes become numbered lines and bounded chunks; how flags
// parse; how retries, per-chunk answers and tail's dedup are computed.
// Method: plain function calls on hand-built inputs (no node, no sockets, no files),
// whole outputs compared with toEqual, tables of cases with test.each. The chunker is
// fed the same input whole and byte by byte, which must give the same chunks.

import { describe, expect, test } from "bun:test";
import {
  absoluteLine,
  addOutcome,
  apiTimestamp,
  chunkBody,
  escapeControls,
  formatBytes,
  formatClientError,
  formatCount,
  formatEventLine,
  formatFromPath,
  formatHealth,
  formatIngestSummary,
  interpretIngestResult,
  interpretResponse,
  LineChunker,
  parseCliArgs,
  ProgressLine,
  retryDelayMs,
  searchParams,
  sniffFormat,
  takeNewEvents,
  UsageError,
  type ApiEvent,
  type ClientError,
  type IngestTally,
  type LineChunk,
  type TailCursor,
} from "../src/cli/index.ts";
import type { CliIo } from "../src/cli/io.ts";

const encode = (text: string) => new TextEncoder().encode(text);

function event(overrides: Partial<ApiEvent> = {}): ApiEvent {
  return { id: "a1", timestamp: "2026-11-21T10:00:00.123456Z", level: "INFO", service: "api", hostname: "web-1", message: "hello", ...overrides };
}

describe("event lines", () => {
  test.each([
    [event(), "2026-11-21T10:00:00.123456Z INFO  api@web-1 hello"],
    [event({ level: "ERROR", hostname: "" }), "2026-11-21T10:00:00.123456Z ERROR api hello"],
    [event({ service: "", hostname: "" }), "2026-11-21T10:00:00.123456Z INFO  - hello"],
    [event({ message: "line one\nat frame\r\n\x1b[31mred\ttab" }), "2026-11-21T10:00:00.123456Z INFO  api@web-1 line one\\nat frame\\r\\n\\x1b[31mred\ttab"],
  ])("%#: one line per event, control characters escaped", (input, line) => {
    expect(formatEventLine(input)).toBe(line);
  });

  test("escapeControls leaves text without controls unchanged", () => {
    expect(escapeControls("plain ünïcode ✓")).toBe("plain ünïcode ✓");
  });
});

describe("numbers", () => {
  test.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1536, "1.5 KiB"],
    [10 * 1024 ** 3, "10.0 GiB"],
  ])("formatBytes(%p) is %p", (bytes, text) => expect(formatBytes(bytes)).toBe(text));

  test.each([
    [0, "0"],
    [999, "999"],
    [1000, "1,000"],
    [1234567.4, "1,234,567"],
  ])("formatCount(%p) is %p", (count, text) => expect(formatCount(count)).toBe(text));
});

describe("client errors", () => {
  const url = "http://127.0.0.1:9/api/v1/logs/search?level=x";
  test.each<[ClientError, string]>([
    [{ kind: "http", url, status: 400, code: "bad_parameter", message: "level: unknown", body: {} }, "400 bad_parameter: level: unknown"],
    [{ kind: "unreachable", url, message: "connection refused" }, "cannot reach the node at http://127.0.0.1:9: connection refused (is it running? set --url or SLUICE_URL)"],
    [{ kind: "timeout", url, timeoutMs: 60000 }, "the node at http://127.0.0.1:9 did not answer within 60000 ms"],
    [{ kind: "bad_response", url, status: 200, message: "answer is not JSON" }, "the node at http://127.0.0.1:9 answered 200 with something logctl does not understand: answer is not JSON"],
  ])("%#: formatClientError", (error, text) => expect(formatClientError(error)).toBe(text));

  test("an error answer keeps code, message, Retry-After and the extras", () => {
    const body = { status: "error", error: { code: "too_many_requests", message: "busy" }, accepted: 0 };
    expect(interpretResponse("u", 429, "2", JSON.stringify(body))).toEqual({
      ok: false,
      error: { kind: "http", url: "u", status: 429, code: "too_many_requests", message: "busy", retryAfterSeconds: 2, body },
    });
  });

  test("a non-JSON error (a proxy's page) keeps its text; a non-JSON 200 is a bad response", () => {
    expect(interpretResponse("u", 502, null, "Bad Gateway")).toEqual({ ok: false, error: { kind: "http", url: "u", status: 502, code: "http_502", message: "Bad Gateway", body: {} } });
    const ok = interpretResponse("u", 200, null, "<html>");
    expect(ok.ok === false && ok.error.kind).toBe("bad_response");
  });
});

describe("status summary", () => {
  test("summarizes health, naming actors that are not running and every warning", () => {
    const health = {
      status: "degraded",
      ingestion_rate: 12.5,
      storage_utilization: { segments: 4, segment_rows: 2000, segment_bytes: 1536, memtable_rows: 7, wal: { available: true, messages: 3, bytes: 2048, max_bytes: 1024 ** 3 }, disk: {} },
      query_latency: { p50_ms: 1.2, p99_ms: 9, count: 40 },
      nats: { version: "2.10.24", connected: true },
      actors: [
        { name: "partition-0", state: "running", restarts: {} },
        { name: "partition-1", state: "restarting", restarts: { crashed: 2, failure: 1 }, lastError: "disk full" },
      ],
      warnings: ["fsync is off"],
    };
    expect(formatHealth(health)).toEqual([
      "status      degraded",
      "ingestion   12.5 events/s",
      "storage     4 segments, 2,000 rows, 1.5 KiB; 7 rows not yet sealed",
      "wal         3 messages, 2.0 KiB of 1.0 GiB",
      "query       p50 1.2 ms, p99 9 ms over 40 queries",
      "nats        2.10.24, connected",
      "actors      1 of 2 running; not running:",
      "            partition-1 (restarting, 3 restarts, last error: disk full)",
      "warning     fsync is off",
    ]);
  });

  test("an unavailable WAL and an empty document still print", () => {
    expect(formatHealth({ storage_utilization: { wal: { available: false, error: "no stream" } } })[3]).toBe("wal         unavailable: no stream");
    expect(formatHealth({})).toContain("warnings    none");
  });
});

describe("ingest summary", () => {
  test("counts, then the first rejections with their numbers in the input, then how many more", () => {
    const tally: IngestTally = { linesSent: 2000, accepted: 1985, rejected: 15, chunks: 1, rejections: [{ line: 7, error: "invalid JSON" }] };
    expect(formatIngestSummary({ source: "app.ndjson", unit: "line", tally, elapsedMs: 1234 })).toEqual([
      "app.ndjson: accepted 1,985, rejected 15 (2,000 lines in 1 request, 1.2 s)",
      "  line 7: invalid JSON",
      "  ... and 14 more rejected",
    ]);
  });
});

/** Feeds `input` to a fresh chunker in pieces of `pieceBytes` (whole when 0) and returns every chunk. */
function chunk(input: string | Uint8Array, limits: { linesMax: number; bytesMax?: number; lineBytesMax?: number }, pieceBytes = 0): LineChunk[] {
  const bytes = typeof input === "string" ? encode(input) : input;
  const chunker = new LineChunker({ bytesMax: 1 << 20, ...limits });
  const out: LineChunk[] = [];
  const step = pieceBytes || bytes.length || 1;
  for (let start = 0; start < bytes.length; start += step) out.push(...chunker.push(bytes.subarray(start, start + step)));
  out.push(...chunker.finish());
  return out;
}

describe("chunking", () => {
  const input = "\ufeffone\r\ntwo\n\n  \nfive é\nsix";

  test("lines are numbered as in the file: CRLF, blank lines, BOM, a last line without newline", () => {
    expect(chunk(input, { linesMax: 4 })).toEqual([
      { index: 0, firstLine: 1, lines: ["one", "two", "", "  "], bytes: 15, records: 2, rejected: [] },
      { index: 1, firstLine: 5, lines: ["five é", "six"], bytes: 12, records: 2, rejected: [] },
    ]);
  });

  test.each([1, 2, 3, 5, 7])("reads split every %p bytes (mid-line, mid-CRLF, mid-character) give the same chunks", (pieceBytes) => {
    expect(chunk(input, { linesMax: 4 }, pieceBytes)).toEqual(chunk(input, { linesMax: 4 }));
  });

  test("a chunk closes before the line that would take it past its byte bound", () => {
    const chunks = chunk("aaaa\nbbbb\ncccc\n", { linesMax: 100, bytesMax: 11, lineBytesMax: 5 });
    expect(chunks.map((each) => [each.firstLine, each.lines])).toEqual([
      [1, ["aaaa", "bbbb"]],
      [3, ["cccc"]],
    ]);
  });

  test.each([0, 3])("a line over the per-line limit is refused and left blank, so numbering holds (pieces of %p)", (pieceBytes) => {
    const chunks = chunk(`ok\n${"x".repeat(20)}\nafter\n${"y".repeat(9)}`, { linesMax: 10, bytesMax: 100, lineBytesMax: 8 }, pieceBytes);
    expect(chunks).toEqual([
      {
        index: 0,
        firstLine: 1,
        lines: ["ok", "", "after", ""],
        bytes: 3 + 1 + 6 + 1,
        records: 2,
        rejected: [
          { line: 2, error: "line is over the 8-byte limit per line; not sent" },
          { line: 4, error: "line is over the 8-byte limit per line; not sent" },
        ],
      },
    ]);
  });

  test("a line of exactly the limit is kept, with its CR not counted", () => {
    expect(chunk("12345678\r\n", { linesMax: 10, bytesMax: 100, lineBytesMax: 8 })[0].lines).toEqual(["12345678"]);
  });

  test("empty input gives no chunk; a file of one newline gives one blank line", () => {
    expect(chunk("", { linesMax: 10 })).toEqual([]);
    expect(chunk("\n", { linesMax: 10 })).toEqual([{ index: 0, firstLine: 1, lines: [""], bytes: 1, records: 0, rejected: [] }]);
  });

  test("body and line numbers of a chunk", () => {
    const [, second] = chunk("a\nb\nc\nd\ne", { linesMax: 3 });
    expect(chunkBody(second)).toBe("d\ne\n");
    expect(absoluteLine(second, 2)).toBe(5);
  });
});

describe("input format", () => {
  test.each([
    ["app.ndjson", "ndjson"],
    ["app.JSONL", "ndjson"],
    ["dump.json", "json"],
    ["/var/log/syslog.log", "text"],
    ["notes.txt", "text"],
    ["syslog", undefined],
    ["archive.gz", undefined],
    ["-", undefined],
  ])("formatFromPath(%p) is %p", (path, format) => expect(formatFromPath(path)).toBe(format as never));

  test.each([
    ['  \n{"message":"x"}', true, "ndjson"],
    ['\ufeff{"a":1}', true, "ndjson"],
    ["[Sun Dec 04 04:47:44 2005] [notice]", true, "text"],
    ["Dec 10 06:55:46 LabSZ sshd", true, "text"],
    ["  \n", false, undefined],
    ["  \n", true, "text"],
  ])("sniffFormat(%p, complete %p) is %p", (head, complete, format) => expect(sniffFormat(encode(head), complete)).toBe(format as never));
});

describe("command line", () => {
  const now = Date.parse("2026-11-21T10:00:00Z");
  const parse = (argv: string[], env: Record<string, string> = {}) => parseCliArgs(argv, env, now);

  test("search: defaults, environment, and values kept exactly as typed", () => {
    expect(parse(["search", "0x80070005", "007", "--trace-id", "0012", "--level", "error,warn", "--from", "15m"], { SLUICE_URL: "http://node:9000/", SLUICE_API_KEY: "00012345" })).toEqual({
      command: "search",
      connection: { url: "http://node:9000", apiKey: "00012345" },
      json: false,
      filter: { q: "0x80070005 007", services: [], levels: ["error", "warn"], hostnames: [], traceIds: ["0012"], from: "2026-11-21T09:45:00.000Z" },
      all: false,
      limit: 50,
      max: 10000,
    });
  });

  test("flags win over the environment; --all pages by 1000 unless --limit says otherwise; limits are clamped", () => {
    const parsed = parse(["--url", "https://logs.example/sluice", "search", "--all", "--max", "5000000"], { SLUICE_URL: "http://ignored:1" });
    expect(parsed).toMatchObject({ connection: { url: "https://logs.example/sluice" }, all: true, limit: 1000, max: 1_000_000 });
    expect(parse(["search", "--limit", "5000"])).toMatchObject({ limit: 1000 });
  });

  test("ingest and tail defaults", () => {
    expect(parse(["ingest", "app.log", "--service", "api"])).toEqual({
      command: "ingest",
      connection: { url: "http://127.0.0.1:8080" },
      json: false,
      input: "app.log",
      format: "auto",
      service: "api",
      hostname: undefined,
      batchLines: 5000,
      gzip: false,
      runId: undefined,
    });
    expect(parse(["tail", "--interval-ms", "5"])).toMatchObject({ command: "tail", backlog: 10, intervalMs: 100 });
  });

  test.each([
    [["search", "--gzip"], "--gzip is not an option of `logctl search`"],
    [["tail", "--to", "1h"], "--to is not an option of `logctl tail`"],
    [["search", "--max", "10"], "--max applies only with --all"],
    [["search", "--limit", "ten"], '--limit: "ten" is not a whole number'],
    [["search", "--limit", "0"], "--limit: 0 is below the minimum of 1"],
    [["ingest"], "logctl ingest takes one FILE (or - for stdin), got 0"],
    [["ingest", "a.ndjson", "--format", "ndjson", "--service", "x"], "--service and --hostname label text lines; ndjson events carry their own"],
    [["ingest", "a.log", "--format", "csv"], '--format: "csv" is not one of auto, ndjson, json, text'],
    [["ingest", "a.log", "--run-id", "has space"], "--run-id must be 1..64 characters of [A-Za-z0-9_-]"],
    [["status", "--url", "ftp://x"], '--url / SLUICE_URL: "ftp://x" is not an http:// or https:// URL'],
    [["status", "extra"], 'logctl status takes no arguments, got "extra"'],
    [["nope"], 'unknown command "nope"'],
    [["search", "--unknown"], "Unknown option '--unknown'"],
  ])("%p is a usage error", (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });

  test("help, for logctl and for one command", () => {
    expect(parse([])).toMatchObject({ command: "help" });
    const help = parse(["ingest", "--help"]);
    expect(help.command === "help" && help.text.split("\n")[0]).toBe("Usage: logctl ingest FILE|-");
  });
});

describe("search requests", () => {
  test("filters become repeated query parameters; the tail's from overrides the user's", () => {
    const filter = { q: "disk full", services: ["api", "db"], levels: ["ERROR"], hostnames: [], traceIds: ["t1"], from: "1h-ago-resolved", to: "2026-11-21T10:00:00Z" };
    expect(searchParams(filter, 100, "c1").toString()).toBe("q=disk+full&service=api&service=db&level=ERROR&trace_id=t1&from=1h-ago-resolved&to=2026-11-21T10%3A00%3A00Z&limit=100&cursor=c1");
    expect(searchParams({ ...filter, to: undefined }, 5, null, "2026-11-21T10:00:00.000000Z").get("from")).toBe("2026-11-21T10:00:00.000000Z");
  });
});

describe("tail dedup", () => {
  test("prints each event once, oldest first, across polls that repeat the newest time", () => {
    const cursor: TailCursor = { idsAtNewest: new Set() };
    const t1 = "2026-11-21T10:00:01.000000Z";
    const t2 = "2026-11-21T10:00:02.000000Z";
    const first = takeNewEvents(cursor, [event({ id: "b", timestamp: t2 }), event({ id: "a", timestamp: t1 }), event({ id: "c", timestamp: t2 })]);
    expect(first.map((each) => each.id)).toEqual(["a", "b", "c"]);
    expect(cursor).toEqual({ newest: t2, idsAtNewest: new Set(["b", "c"]) });
    // The next poll asks from=t2 (inclusive): b and c again, plus d at t2 and e later.
    const second = takeNewEvents(cursor, [event({ id: "e", timestamp: "2026-11-21T10:00:03.000000Z" }), event({ id: "d", timestamp: t2 }), event({ id: "c", timestamp: t2 }), event({ id: "b", timestamp: t2 })]);
    expect(second.map((each) => each.id)).toEqual(["d", "e"]);
    expect(takeNewEvents(cursor, [event({ id: "e", timestamp: "2026-11-21T10:00:03.000000Z" })])).toEqual([]);
  });

  test("apiTimestamp writes microsecond digits, so it orders with the API's times as text", () => {
    expect(apiTimestamp(Date.parse("2026-11-21T10:00:00.123Z"))).toBe("2026-11-21T10:00:00.123000Z");
    expect("2026-11-21T10:00:00.123456Z" > apiTimestamp(Date.parse("2026-11-21T10:00:00.123Z"))).toBe(true);
  });
});

describe("ingest answers and retries", () => {
  const overload = (status: number, retryAfterSeconds?: number): ClientError => ({ kind: "http", url: "u", status, code: "busy", message: "m", body: {}, ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}) });

  test.each<[ClientError, number, number | null]>([
    [overload(429, 1), 1, 1000],
    [overload(503, 1), 3, 2000],
    [overload(429), 1, 500],
    [overload(429, 3600), 2, 30_000],
    [overload(429, 1), 8, null],
    [overload(400), 1, null],
    [overload(500), 1, null],
    [{ kind: "unreachable", url: "u", message: "refused" }, 1, null],
  ])("%#: retry delay", (error, attempt, delay) => {
    expect(retryDelayMs(error, attempt)).toBe(delay);
  });

  const chunk2: LineChunk = { index: 1, firstLine: 101, lines: Array(100).fill("{}"), bytes: 300, records: 100, rejected: [{ line: 150, error: "line is over the limit" }] };

  test("a 202's chunk-relative line numbers become the file's", () => {
    const outcome = interpretIngestResult({ ok: true, value: { accepted: 97, rejected: [{ line: 3, error: "bad" }, { line: 100, error: "worse" }] } }, chunk2);
    expect(outcome).toEqual({ ok: true, accepted: 97, rejectedCount: 2, rejections: [{ line: 103, error: "bad" }, { line: 200, error: "worse" }] });
  });

  test("400 no_valid_events is per-line rejections, not a failure; other errors are", () => {
    const allBad: ClientError = { kind: "http", url: "u", status: 400, code: "no_valid_events", message: "none valid", body: { accepted: 0, rejected: [{ line: 1, error: "bad" }] } };
    expect(interpretIngestResult({ ok: false, error: allBad }, chunk2)).toEqual({ ok: true, accepted: 0, rejectedCount: 100, rejections: [{ line: 101, error: "bad" }] });
    const tooLarge = overload(413);
    expect(interpretIngestResult({ ok: false, error: tooLarge }, chunk2)).toEqual({ ok: false, error: tooLarge });
  });

  test("the tally merges local and node rejections in file order and keeps only the first ten", () => {
    const tally: IngestTally = { linesSent: 0, accepted: 0, rejected: 0, rejections: [], chunks: 0 };
    const many = Array.from({ length: 12 }, (_, index) => ({ line: 160 + index, error: "bad" }));
    addOutcome(tally, chunk2, { ok: true, accepted: 87, rejectedCount: 12, rejections: [{ line: 120, error: "first" }, ...many] });
    expect(tally.linesSent).toBe(100);
    expect(tally.accepted).toBe(87);
    expect(tally.rejected).toBe(13);
    expect(tally.rejections.map((each) => each.line)).toEqual([120, 150, 160, 161, 162, 163, 164, 165, 166, 167]);
  });
});

describe("progress", () => {
  test("at most one line per 500 ms on a non-terminal stderr", () => {
    let nowMs = 0;
    const written: string[] = [];
    const io: CliIo = { stdout: async () => undefined, stderr: (text) => void written.push(text), stderrIsTty: false, nowMs: () => nowMs, sleep: async () => undefined };
    const progress = new ProgressLine(io, 0);
    const tally: IngestTally = { linesSent: 1000, accepted: 990, rejected: 10, rejections: [], chunks: 1 };
    for (nowMs = 0; nowMs <= 1200; nowMs += 100) progress.update(tally);
    expect(written).toEqual(["sent 1,000 lines, accepted 990, rejected 10, 2,000 lines/s\n", "sent 1,000 lines, accepted 990, rejected 10, 1,000 lines/s\n"]);
  });
});
