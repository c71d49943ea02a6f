// Goal: every Loghub sample (16 systems, real text nobody here wrote) ingests as
// plain text with exactly 2,000 events each, and full-text search counts equal what
// `grep -ciw` (whole words, as the query language reads them) counts in the same file. Method: one real node; POST each file as
// text/plain; exact counts through the aggregate API; grep run as a real process.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { countEvents, getJson, ROOT, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

const DIR = join(ROOT, "tests/fixtures/loghub");
const FILES = readdirSync(DIR).filter((name) => name.endsWith("_2k.log")).sort();
const serviceOf = (file: string) => file.replace("_2k.log", "").toLowerCase();

/** A word or phrase per system that occurs in some but not all lines. */
const TERMS: Record<string, string[]> = {
  android: ["PowerManagerService", "wakefulness"],
  apache: ["error", "workerEnv"],
  bgl: ["cache parity", "FATAL"],
  hdfs: ["blk_", "PacketResponder"],
  hpc: ["unavailable", "node-246"],
  hadoop: ["RMCommunicator", "ERROR"],
  healthapp: ["Step_LSC", "onStandStepChanged"],
  linux: ["authentication failure", "sshd"],
  mac: ["kernel", "Thunderbolt"],
  openssh: ["Failed password", "invalid user"],
  openstack: ["GET /v2", "nova.metadata"],
  proxifier: ["HTTPS", "close,"],
  spark: ["BlockManager", "Registered"],
  thunderbird: ["crond", "session opened"],
  windows: ["CBS", "Warning"],
  zookeeper: ["WARN", "QuorumCnxManager"],
};

function grepCount(term: string, file: string): number {
  const result = Bun.spawnSync(["grep", "-ciwF", "--", term, join(DIR, file)]);
  return Number(result.stdout.toString().trim());
}

let node: TestNode;
beforeAll(async () => {
  node = await startTestNode();
  for (const file of FILES) {
    const { status, body } = await getJson(`${node.httpUrl}/api/v1/logs?service=${serviceOf(file)}&hostname=loghub`, {
      method: "POST",
      body: readFileSync(join(DIR, file)),
      headers: { "content-type": "text/plain" },
    });
    if (status !== 202 || body.accepted !== 2000) throw new Error(`${file}: ${status} ${JSON.stringify(body).slice(0, 300)}`);
  }
  await waitFor(async () => (await countEvents(node.httpUrl, "hostname=loghub")) === FILES.length * 2000, { timeoutMs: 60_000, what: "all Loghub events searchable" });
});
afterAll(async () => {
  await node?.stop();
});

describe("Loghub samples", () => {
  test("there are 16 systems and each has 2,000 events", async () => {
    expect(FILES.length).toBe(16);
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=service&hostname=loghub`);
    expect(body.aggregations).toEqual(Object.fromEntries(FILES.map((file) => [serviceOf(file), 2000])));
  });

  test.each(FILES.flatMap((file) => TERMS[serviceOf(file)].map((term) => [file, term] as const)))("%s: full-text %j counts like grep -ciw", async (file, term) => {
    const expected = grepCount(term, file);
    expect(expected).toBeGreaterThan(0);
    const q = term.includes(" ") ? `"${term}"` : term;
    const count = await countEvents(node.httpUrl, `service=${serviceOf(file)}&q=${encodeURIComponent(q)}`);
    expect(count).toBe(expected);
  });

  test("every event got its timestamp from its line, not the ingest time", async () => {
    // Samples with a year in each line are from 2005-2017; the yearless syslog-style
    // ones (Android, Linux, Mac, OpenSSH, Proxifier) take the current year by design.
    const yearless = new Set(["android", "linux", "mac", "openssh", "proxifier"]);
    const beforeUs = Date.UTC(2020, 0, 1) * 1000;
    const { body } = await getJson(`${node.httpUrl}/api/v1/logs/aggregate?group_by=service&hostname=loghub&to=${beforeUs}`);
    expect(body.aggregations).toEqual(Object.fromEntries(FILES.map(serviceOf).filter((service) => !yearless.has(service)).map((service) => [service, 2000])));
    const year = new Date().getUTCFullYear();
    const { body: logs } = await getJson(`${node.httpUrl}/api/v1/logs/search?service=openssh&limit=1`);
    expect(logs.logs[0].timestamp.slice(0, 4)).toMatch(new RegExp(`^(${year}|${year - 1})$`));
  });
});
