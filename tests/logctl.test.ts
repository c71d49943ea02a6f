// Goal: logctl works end to end against a real node: ingest (a Loghub file, NDJSON with
// bad lines, a JSON array, stdin), search (one page, every page with --all), status,
// tail, and its failure paths (unreachable node, a server 400, usage errors).
// Method: one node for the whole file (startTestNode); the CLI runs as a subprocess,
// `bin/logctl --url <node> ...`, exactly as a user runs it, and its stdout, stderr and
// exit status are checked. Ingested events are awaited with waitFor until searchable;
// nothing sleeps. Each ingest uses its own service name so tests do not count each
// other's events.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { countEvents, ROOT, startTestNode, tempDir, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const LOGCTL = join(ROOT, "bin/logctl");
/** `TIMESTAMP LEVEL service@hostname message`, as formatEventLine prints an event. */
const EVENT_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S+ .*$/;

let node: TestNode;
let work: { path: string; remove(): void };

beforeAll(async () => {
  node = await startTestNode();
  work = tempDir("logctl");
});

afterAll(async () => {
  await node?.stop();
  work?.remove();
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function logctl(args: string[], options: { stdin?: string; url?: string } = {}): Promise<Run> {
  const child = Bun.spawn([LOGCTL, "--url", options.url ?? node.httpUrl, ...args], {
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { code, stdout, stderr };
}

/** Lines of output, without the final newline's empty string. */
const linesOf = (text: string) => text.split("\n").filter((line) => line !== "");

// The Loghub file backs several tests; whichever runs first ingests it, once.
let sshIngest: Promise<Run> | undefined;
function ingestSsh(): Promise<Run> {
  sshIngest ??= (async () => {
    const path = join(work.path, "OpenSSH_2k.log");
    copyFileSync(join(ROOT, "tests/fixtures/loghub/OpenSSH_2k.log"), path);
    // 700 lines per request: three requests, the last one ending in a line without a newline.
    const run = await logctl(["ingest", path, "--service", "ssh", "--hostname", "labsz", "--batch-lines", "700", "--json"]);
    await waitFor(async () => (await countEvents(node.httpUrl, "service=ssh")) === 2000, { what: "2000 ssh events searchable" });
    return run;
  })();
  return sshIngest;
}

describe("logctl ingest", () => {
  test("a Loghub file is sent in batches and every line is accepted", async () => {
    const run = await ingestSsh();
    expect(run.code).toBe(0);
    const summary = JSON.parse(run.stdout);
    expect({ ...summary, run_id: "x", elapsed_ms: 0 }).toEqual({
      source: join(work.path, "OpenSSH_2k.log"),
      format: "text",
      run_id: "x",
      accepted: 2000,
      rejected: 0,
      lines: 2000,
      requests: 3,
      elapsed_ms: 0,
      rejections: [],
    });
  });

  test("NDJSON with two bad lines: the rest is stored, the bad ones are named by their line in the file", async () => {
    const service = `nd-${crypto.randomUUID()}`;
    const lines = Array.from({ length: 12 }, (_, index) => JSON.stringify({ message: `event ${index + 1}`, service }));
    lines[4] = "{not json"; // line 5: in the second request of four lines
    lines[10] = JSON.stringify({ msg_typo: "no message", service }); // line 11: in the third
    lines[7] = ""; // line 8: blank, counted but not an event
    const path = join(work.path, "mixed.ndjson");
    writeFileSync(path, `${lines.join("\r\n")}\r\n`);
    const run = await logctl(["ingest", path, "--batch-lines", "4"]);
    expect(run.code).toBe(0);
    const [summary, ...rejections] = linesOf(run.stdout);
    expect(summary).toStartWith(`${path}: accepted 9, rejected 2 (12 lines in 3 requests, `);
    expect(rejections.map((line) => /^ {2}line (\d+): /.exec(line)?.[1])).toEqual(["5", "11"]);
    expect(rejections[1]).toBe('  line 11: missing field "message"');
    await waitFor(async () => (await countEvents(node.httpUrl, `service=${service}`)) === 9, { what: "9 NDJSON events searchable" });
  });

  test("stdin (-) is read to its end and searchable afterwards", async () => {
    const probe = `stdinprobe${crypto.randomUUID().replaceAll("-", "")}`;
    const run = await logctl(["ingest", "-", "--service", "stdin", "--hostname", "pipe"], { stdin: `${probe} one\n${probe} two\n${probe} three` });
    expect(run.code).toBe(0);
    expect(run.stdout).toStartWith("stdin: accepted 3, rejected 0 (3 lines in 1 request, ");
    await waitFor(async () => linesOf((await logctl(["search", probe])).stdout).length === 3, { what: "stdin events searchable" });
    const search = await logctl(["search", probe, "--service", "stdin"]);
    const found = linesOf(search.stdout);
    expect(found.map((line) => line.replace(/^\S+ /, "")).sort()).toEqual([`INFO  stdin@pipe ${probe} one`, `INFO  stdin@pipe ${probe} three`, `INFO  stdin@pipe ${probe} two`]);
    for (const line of found) expect(line).toMatch(EVENT_LINE);
  });

  test("a JSON array is re-sent in batches (gzip) with element numbers counted over the whole array", async () => {
    const service = `arr-${crypto.randomUUID()}`;
    const elements: unknown[] = Array.from({ length: 5 }, (_, index) => ({ message: `element ${index + 1}`, service }));
    elements[3] = { message: 42, service };
    const path = join(work.path, "events.json");
    writeFileSync(path, JSON.stringify(elements));
    const run = await logctl(["ingest", path, "--batch-lines", "2", "--gzip"]);
    expect(run.code).toBe(0);
    expect(linesOf(run.stdout).slice(1)).toEqual(['  element 4: field "message" must be a string, got number']);
    await waitFor(async () => (await countEvents(node.httpUrl, `service=${service}`)) === 4, { what: "4 array events searchable" });
  });

  test("--format json refuses a file over 32 MiB before reading it", async () => {
    const path = join(work.path, "huge.json");
    writeFileSync(path, "");
    truncateSync(path, 33 * 1024 * 1024);
    const run = await logctl(["ingest", path]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`logctl: ${path} is larger than 32.0 MiB, the most --format json reads whole`);
  });
});

describe("logctl search", () => {
  test("finds events by words of their message, one line each", async () => {
    await ingestSsh();
    const run = await logctl(["search", "Failed", "password", "--service", "ssh", "--limit", "5"]);
    expect(run.code).toBe(0);
    const found = linesOf(run.stdout);
    expect(found).toHaveLength(5);
    for (const line of found) {
      expect(line).toMatch(EVENT_LINE);
      expect(line).toContain(" ssh@labsz ");
      expect(line).toContain("Failed password");
    }
  });

  test("--json --all follows the cursor through every page: each event exactly once", async () => {
    await ingestSsh();
    const run = await logctl(["search", "--service", "ssh", "--json", "--all", "--limit", "300"]);
    expect(run.code).toBe(0);
    const events = linesOf(run.stdout).map((line) => JSON.parse(line));
    expect(events).toHaveLength(2000);
    expect(new Set(events.map((event) => event.id)).size).toBe(2000);
    expect(new Set(events.map((event) => `${event.service}@${event.hostname}`))).toEqual(new Set(["ssh@labsz"]));
    expect(run.stderr).toBe("");
  });

  test("a bad level shows the node's 400 message and exits 1", async () => {
    const run = await logctl(["search", "--level", "loud"]);
    expect(run).toEqual({ code: 1, stdout: "", stderr: 'logctl: 400 bad_parameter: level: unknown level "loud"; use one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL\n' });
  });
});

describe("logctl status", () => {
  test("--json prints the health document", async () => {
    const run = await logctl(["status", "--json"]);
    expect(run.code).toBe(0);
    const health = JSON.parse(run.stdout);
    expect(health.status).toBeOneOf(["healthy", "degraded"]);
    expect(Object.keys(health.storage_utilization)).toContain("segment_rows");
    // Skip index state and memtable part joins, as numbers summed over the shards.
    expect(health.storage_utilization.skip_indexes).toEqual({ bytes: expect.any(Number), segments_unindexed: 0, under_sized: 0 });
    expect(health.storage_utilization.work_counts.part_joins).toBeGreaterThanOrEqual(0);
    // The ingested rows (none compacted yet) have their ordering and stream columns held.
    await ingestSsh();
    const after = JSON.parse((await logctl(["status", "--json"])).stdout);
    expect(after.storage_utilization.recent_rows).toBeGreaterThan(0);
    expect(Array.isArray(health.actors)).toBe(true);
  });

  test("prints a short summary", async () => {
    const run = await logctl(["status"]);
    expect(run.code).toBe(0);
    const labels = linesOf(run.stdout).map((line) => line.split(/\s+/)[0]);
    expect(labels.slice(0, 4)).toEqual(["status", "ingestion", "storage", "wal"]);
    expect(labels).toContain("query");
    expect(labels).toContain("actors");
    expect(run.stdout).toMatch(/^status\s+(healthy|degraded)$/m);
  });
});

describe("logctl tail", () => {
  test("prints the backlog, then an event ingested while it runs, and stops cleanly on SIGINT", async () => {
    const service = `tail-${crypto.randomUUID()}`;
    expect((await logctl(["ingest", "-", "--service", service], { stdin: "before tail started\n" })).code).toBe(0);
    await waitFor(async () => (await countEvents(node.httpUrl, `service=${service}`)) === 1, { what: "backlog event searchable" });
    const child = Bun.spawn([LOGCTL, "--url", node.httpUrl, "tail", "--service", service, "--interval-ms", "100"], { stdout: "pipe", stderr: "pipe" });
    let output = "";
    const pump = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) output += decoder.decode(chunk, { stream: true });
    })();
    try {
      await waitFor(() => output.includes("before tail started"), { what: "tail to print its backlog" });
      expect((await logctl(["ingest", "-", "--service", service], { stdin: "after tail started\n" })).code).toBe(0);
      await waitFor(() => output.includes("after tail started"), { what: "tail to print the new event" });
    } finally {
      child.kill("SIGINT");
    }
    expect(await child.exited).toBe(0);
    await pump;
    expect(linesOf(output).map((line) => line.replace(/^\S+ /, ""))).toEqual([`INFO  ${service} before tail started`, `INFO  ${service} after tail started`]);
  });
});

describe("logctl failures", () => {
  test("an unreachable node: exit 1 and a message naming the URL", async () => {
    // A port that was free a moment ago and now has no listener.
    const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const url = `http://127.0.0.1:${listener.port}`;
    listener.stop(true);
    const run = await logctl(["status"], { url });
    expect(run).toEqual({ code: 1, stdout: "", stderr: `logctl: cannot reach the node at ${url}: connection refused (is it running? set --url or SLUICE_URL)\n` });
    const ingest = await logctl(["ingest", "-"], { url, stdin: "one line\n" });
    expect(ingest.code).toBe(1);
    expect(ingest.stderr).toContain(`logctl: cannot reach the node at ${url}: connection refused`);
  });

  test.each([
    [["search", "--gzip"], "logctl: --gzip is not an option of `logctl search`; see logctl search --help\n"],
    [["frobnicate"], 'logctl: unknown command "frobnicate"; commands: status, ingest, search, tail, cluster, shards, drain, undrain, rebalance (see logctl --help)\n'],
    [["search", "--max", "5"], "logctl: --max applies only with --all\n"],
  ])("usage error %p exits 2", async (args, stderr) => {
    expect(await logctl(args)).toEqual({ code: 2, stdout: "", stderr });
  });
});

describe("logctl ingest against a scripted node", () => {
  test("429 and 503 are retried with the same Idempotency-Key; a 401 ends the run with exit 1", async () => {
    const seen: { key: string | null; auth: string | null; body: string }[] = [];
    const answers = [
      () => Response.json({ status: "error", error: { code: "too_many_requests", message: "busy" } }, { status: 429, headers: { "retry-after": "0" } }),
      () => Response.json({ status: "error", error: { code: "wal_unavailable", message: "no ack" } }, { status: 503, headers: { "retry-after": "0" } }),
      () => Response.json({ status: "success", message: "Log received", accepted: 2, rejected: [] }, { status: 202 }),
      () => Response.json({ status: "error", error: { code: "unauthorized", message: "unknown API key" } }, { status: 401 }),
    ];
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      async fetch(request) {
        seen.push({ key: request.headers.get("idempotency-key"), auth: request.headers.get("authorization"), body: await request.text() });
        return answers[Math.min(seen.length, answers.length) - 1]();
      },
    });
    try {
      const url = `http://127.0.0.1:${server.port}`;
      const run = await logctl(["ingest", "-", "--batch-lines", "2", "--run-id", "r1", "--api-key", "0012345678"], { url, stdin: "a\nb\nc\n" });
      expect(run.code).toBe(1);
      expect(seen.map((request) => [request.key, request.auth, request.body])).toEqual([
        ["logctl-r1-0", "Bearer 0012345678", "a\nb\n"],
        ["logctl-r1-0", "Bearer 0012345678", "a\nb\n"],
        ["logctl-r1-0", "Bearer 0012345678", "a\nb\n"],
        ["logctl-r1-1", "Bearer 0012345678", "c\n"],
      ]);
      expect(linesOf(run.stderr)).toEqual([
        "logctl: 429 too_many_requests: busy; retrying in 0.5 s (attempt 2 of 8)",
        "logctl: 503 wal_unavailable: no ack; retrying in 1.0 s (attempt 3 of 8)",
        // The retries took over 500 ms, so one progress line was due.
        expect.stringMatching(/^sent 2 lines, accepted 2, rejected 0, \d+ lines\/s$/),
        "logctl: 401 unauthorized: unknown API key",
        "logctl: stopped at request 2 (line 3); earlier requests were stored. Re-running with --run-id r1 (same --batch-lines) within 2 minutes resends them without duplicates",
      ]);
      expect(run.stdout).toStartWith("stdin: accepted 2, rejected 0 (2 lines in 1 request, ");
    } finally {
      server.stop(true);
    }
  });
});
