// Goal: logctl's cluster admin commands (cluster status, shards, drain, undrain,
// rebalance) parse exactly, print the cluster view in tables whose cells say what the
// node reported, and turn the node's answers into the right output and exit status.
// Method: parsing and tables are plain calls on a hand-written ClusterStatus. The
// commands then run (the same functions logctl.ts dispatches to) against a small
// Bun.serve stub on port 0 that speaks the wire format of src/cluster/status-types.ts;
// each test scripts its answers. The CLI's clock and sleep are a fake that moves time
// forward instantly, so drain --wait polls without waiting and nothing sleeps.

import { afterAll, describe, expect, test } from "bun:test";
import { clusterProblems, formatAge, formatClusterSummary, formatDrainReply, formatMovesTable, formatNodesTable, formatRebalance, formatReplication, formatShardsTable, formatShardSummaryTable, helpText, parseCliArgs, SluiceClient, UsageError, type CliCommand } from "../src/cli/index.ts";
import { runClusterStatus, runDrain, runRebalance, runShards, runUndrain } from "../src/cli/cluster.ts";
import type { CliIo } from "../src/cli/io.ts";
import type { ClusterNodeStatus, ClusterStatus, ShardStatus } from "../src/cluster/status-types.ts";

const parse = (argv: string[]) => parseCliArgs(argv, {}, 0);
const connection = { url: "http://127.0.0.1:8080" };

function node(id: string, overrides: Partial<ClusterNodeStatus> = {}): ClusterNodeStatus {
  return { id, http_url: `http://10.0.0.${id.slice(-1)}:8080`, nats_url: "nats://127.0.0.1:4222", pid: 4000 + Number(id.slice(-1)), started_at: "2026-11-21T10:00:00Z", alive: true, draining: false, shards: 0, segment_store: "objectstore", last_seen_ms: 120, ...overrides };
}

function shard(number: number, owner: string | null, overrides: Partial<ShardStatus> = {}): ShardStatus {
  return { shard: number, owner, epoch: 3, target: owner, state: owner === null ? "unowned" : "owned", wal: { pending: 0, ack_pending: 0, ack_floor: 100 }, segments: 4, last_seq: 100, ...overrides };
}

/** Three nodes, node-3 down and node-2 draining; shard 1 moving node-2 -> node-1, shard 2 held by nobody. */
const FIXTURE: ClusterStatus = {
  node: "node-1",
  nodes: [node("node-1", { shards: 2 }), node("node-2", { draining: true, shards: 1, last_seen_ms: 4200 }), node("node-3", { alive: false, last_seen_ms: 95_000 })],
  shards: [
    shard(3, "node-1", { epoch: 7, wal: { pending: 12_345, ack_pending: 17, ack_floor: 1_234_567 }, segments: 1500, last_seq: 1_234_584 }),
    shard(1, "node-2", { state: "moving", target: "node-1", epoch: 4 }),
    shard(2, null, { target: "node-1", wal: null, segments: null, last_seq: null }),
    shard(0, "node-1"),
  ],
  replication: {
    wal: { stream: "SLUICE_WAL", replicas: 3, leader: "node-1", peers: [{ name: "node-2", current: true, lag: 0, active_ms: 80 }, { name: "node-3", current: false, lag: 5120, active_ms: 95_000 }] },
    segments: null,
  },
  moves: [{ shard: 2, from: null, to: "node-1" }, { shard: 1, from: "node-2", to: "node-1" }],
};

/** A table's rows as cells: columns are two or more spaces apart, and no cell holds two spaces. */
const cells = (lines: string[]) => lines.map((line) => line.trim().split(/ {2,}/));
const rowOf = (lines: string[], first: string) => cells(lines).find((row) => row[0] === first);

describe("parsing the cluster commands", () => {
  test.each<[string[], CliCommand]>([
    [["cluster", "status"], { command: "cluster", subcommand: "status", connection, json: false }],
    [["cluster", "status", "--json"], { command: "cluster", subcommand: "status", connection, json: true }],
    [["shards", "--json"], { command: "shards", connection, json: true }],
    [["drain", "node-2"], { command: "drain", connection, json: false, node: "node-2", wait: false, timeoutMs: 120_000 }],
    [["drain", "node-2", "--wait", "--timeout", "30", "--json"], { command: "drain", connection, json: true, node: "node-2", wait: true, timeoutMs: 30_000 }],
    [["drain", "node-2", "--wait", "--timeout", "99999"], { command: "drain", connection, json: false, node: "node-2", wait: true, timeoutMs: 3_600_000 }],
    [["undrain", "node-2", "--json"], { command: "undrain", connection, json: true, node: "node-2" }],
    [["rebalance"], { command: "rebalance", connection, json: false }],
  ])("%p", (argv, command) => {
    expect(parse(argv)).toEqual(command);
  });

  test.each([
    [["cluster"], "logctl cluster takes a subcommand: logctl cluster status"],
    [["cluster", "nodes"], 'unknown subcommand "nodes" of logctl cluster; use logctl cluster status'],
    [["cluster", "status", "extra"], 'logctl cluster status takes no arguments, got "extra"'],
    [["shards", "7"], 'logctl shards takes no arguments, got "7"'],
    [["rebalance", "now"], 'logctl rebalance takes no arguments, got "now"'],
    [["drain"], "logctl drain takes one NODE (a node id, as logctl cluster status lists them), got 0"],
    [["drain", "node-1", "node-2"], "logctl drain takes one NODE (a node id, as logctl cluster status lists them), got 2"],
    [["undrain"], "logctl undrain takes one NODE (a node id, as logctl cluster status lists them), got 0"],
    [["drain", " "], "logctl drain: NODE is empty"],
    [["drain", "node-2", "--wait", "--timeout", "soon"], '--timeout: "soon" is not a whole number'],
    [["drain", "node-2", "--wait", "--timeout", "-5"], "--timeout"],
    [["drain", "node-2", "--wait", "--timeout", "0"], "--timeout: 0 is below the minimum of 1"],
    [["drain", "node-2", "--timeout", "30"], "--timeout applies only with --wait"],
    [["undrain", "node-2", "--wait"], "--wait is not an option of `logctl undrain`"],
    [["shards", "--timeout", "5"], "--timeout is not an option of `logctl shards`"],
  ])("%p is a usage error", (argv, message) => {
    expect(() => parse(argv)).toThrow(UsageError);
    expect(() => parse(argv)).toThrow(message);
  });

  test("help lists the cluster commands and says when cluster status exits 1", () => {
    expect(helpText()).toContain("\nCluster commands:\n  cluster status        nodes, shards, replication and pending moves; exit status 1 when a node is down or a shard has no owner");
    expect(parse(["drain", "--help"])).toEqual({ command: "help", text: helpText("drain") });
    expect(helpText("drain").split("\n")[0]).toBe("Usage: logctl drain NODE");
    expect(helpText("drain")).toContain("  --timeout SECONDS     how long --wait waits (default 120, at most 3600)");
  });
});

describe("cluster tables", () => {
  test("nodes: a down node shows down, a draining one yes, ages in the unit that reads best", () => {
    const table = formatNodesTable(FIXTURE.nodes);
    expect(cells(table)).toEqual([
      ["NODE", "STATE", "DRAINING", "SHARDS", "HTTP URL", "PID", "LAST SEEN"],
      ["node-1", "alive", "no", "2", "http://10.0.0.1:8080", "4001", "120 ms ago"],
      ["node-2", "alive", "yes", "1", "http://10.0.0.2:8080", "4002", "4.2 s ago"],
      ["node-3", "down", "no", "0", "http://10.0.0.3:8080", "4003", "1 min ago"],
    ]);
    // Every row is as wide as the widest: the columns line up.
    const urlColumn = table[0].indexOf("HTTP URL");
    expect(table.slice(1).map((line) => line.indexOf("http://10"))).toEqual([urlColumn, urlColumn, urlColumn]);
  });

  test("shards: sorted by number; a moving shard shows its target; what the node could not read is -", () => {
    const table = formatShardsTable(FIXTURE.shards);
    expect(cells(table)[0]).toEqual(["SHARD", "OWNER", "EPOCH", "STATE", "TARGET", "WAL PENDING", "ACK PENDING", "ACK FLOOR", "SEGMENTS", "LAST SEQ"]);
    expect(cells(table).map((row) => row[0])).toEqual(["SHARD", "0", "1", "2", "3"]);
    expect(rowOf(table, "1")).toEqual(["1", "node-2", "4", "moving", "node-1", "0", "0", "100", "4", "100"]);
    expect(rowOf(table, "2")).toEqual(["2", "-", "3", "unowned", "node-1", "-", "-", "-", "-", "-"]);
    expect(rowOf(table, "3")).toEqual(["3", "node-1", "7", "owned", "node-1", "12,345", "17", "1234567", "1,500", "1234584"]);
  });

  test("status's shard summary puts the WAL backlog in one cell", () => {
    const table = formatShardSummaryTable(FIXTURE.shards);
    expect(rowOf(table, "3")).toEqual(["3", "node-1", "7", "owned", "12,345 / 17", "1,500", "1234584"]);
    expect(rowOf(table, "2")).toEqual(["2", "-", "3", "unowned", "-", "-", "-"]);
  });

  test("replication: one row per peer with its lag; a stream not replicated says so", () => {
    expect(cells(formatReplication(FIXTURE.replication))).toEqual([
      ["STREAM", "REPLICAS", "LEADER", "PEER", "CURRENT", "LAG", "LAST ACTIVE"],
      ["wal (SLUICE_WAL)", "3", "node-1", "node-2", "yes", "0", "80 ms ago"],
      ["wal (SLUICE_WAL)", "3", "node-1", "node-3", "no", "5,120", "1 min ago"],
      ["segments: not replicated"],
    ]);
    expect(formatReplication({ wal: null, segments: null })).toEqual(["not replicated (local mode), or the streams did not answer"]);
    const leaderless = { stream: "SLUICE_SEGMENTS", replicas: 1, leader: null, peers: [] };
    expect(cells(formatReplication({ wal: null, segments: leaderless }))[1]).toEqual(["segments (SLUICE_SEGMENTS)", "1", "none", "-", "-", "-", "-"]);
  });

  test("moves, aligned, and the rebalance answer", () => {
    expect(formatMovesTable(FIXTURE.moves)).toEqual(["SHARD  FROM    TO", "    1  node-2  node-1", "    2  -       node-1"]);
    expect(formatMovesTable([])).toEqual(["none"]);
    expect(formatRebalance([])).toEqual(["balanced: no moves"]);
    expect(formatRebalance([{ shard: 5, from: "node-1", to: "node-2" }])).toEqual(["rebalance: 1 move", "  SHARD  FROM    TO", "      5  node-1  node-2"]);
  });

  test("summary and problems: down nodes and unowned shards are what make status exit 1", () => {
    expect(formatClusterSummary(FIXTURE)).toBe("node-1 answered: 3 nodes (1 down, 1 draining); 4 shards (1 moving, 1 unowned); 2 pending moves");
    expect(clusterProblems(FIXTURE)).toEqual(["node node-3 is down", "shard 2 has no owner"]);
    const settled = { ...FIXTURE, nodes: FIXTURE.nodes.slice(0, 2), shards: FIXTURE.shards.filter((each) => each.owner !== null) };
    expect(clusterProblems(settled)).toEqual([]);
    expect(clusterProblems({ ...FIXTURE, nodes: [], shards: [shard(4, null), shard(9, null)] })).toEqual(["shards 4, 9 have no owner"]);
  });

  test.each([
    [{ node: "node-2", draining: true, shards: 5 }, "node-2 is draining: it still owns 5 shards"],
    [{ node: "node-2", draining: true, shards: 1 }, "node-2 is draining: it still owns 1 shard"],
    [{ node: "node-2", draining: true, shards: 0 }, "node-2 is drained: it can be stopped"],
    [{ node: "node-2", draining: false, shards: 0 }, "node-2 is not draining: it owns 0 shards and can take more"],
  ])("drain answer %#", (reply, line) => expect(formatDrainReply(reply)).toBe(line));

  test.each([
    [0, "0 ms ago"],
    [999, "999 ms ago"],
    [1000, "1.0 s ago"],
    [59_949, "59.9 s ago"],
    [60_000, "1 min ago"],
    [5_400_000, "1.5 h ago"],
  ])("age %p ms is %p", (ms, text) => expect(formatAge(ms)).toBe(text));
});

// ---- Commands against a stub node speaking the wire format ----

interface Seen {
  method: string;
  path: string;
  body: string;
  contentType: string | null;
  auth: string | null;
}

const seen: Seen[] = [];
let answer: (request: Request, body: string) => Response = () => new Response("no answer scripted", { status: 500 });

const stub = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(request) {
    const body = await request.text();
    seen.push({ method: request.method, path: new URL(request.url).pathname, body, contentType: request.headers.get("content-type"), auth: request.headers.get("authorization") });
    return answer(request, body);
  },
});

afterAll(() => stub.stop(true));

/** Parses argv against the stub, resets the request log, and returns a recording I/O whose sleep moves a fake clock. */
function setUp(argv: string[]) {
  seen.length = 0;
  const command = parseCliArgs(["--url", stub.url.origin, "--api-key", "k-123", ...argv], {}, 0);
  const out = { stdout: "", stderr: "", sleepsMs: [] as number[], nowMs: 1_000_000 };
  const io: CliIo = {
    stdout: async (text) => void (out.stdout += text),
    stderr: (text) => void (out.stderr += text),
    stderrIsTty: false,
    nowMs: () => out.nowMs,
    sleep: async (ms) => {
      out.sleepsMs.push(ms);
      out.nowMs += ms;
    },
  };
  const client = new SluiceClient(command.command === "help" ? connection : command.connection);
  return { command, io, out, client };
}

function only<K extends CliCommand["command"]>(command: CliCommand, name: K): Extract<CliCommand, { command: K }> {
  if (command.command !== name) throw new Error(`parsed ${command.command}, expected ${name}`);
  return command as Extract<CliCommand, { command: K }>;
}

const clusterWith = (nodeTwoShards: number): ClusterStatus => ({ ...FIXTURE, nodes: [node("node-1", { shards: 4 - nodeTwoShards }), node("node-2", { draining: true, shards: nodeTwoShards })], shards: [shard(0, "node-1")], moves: [] });
const notKnown = (message: string) => Response.json({ status: "error", error: { code: "unknown_node", message } }, { status: 404 });

describe("commands against a stub node", () => {
  test("cluster status: tables on stdout, exit 1 with the reasons when a node is down", async () => {
    const { command, io, out, client } = setUp(["cluster", "status"]);
    answer = () => Response.json(FIXTURE);
    expect(await runClusterStatus(only(command, "cluster").json, io, client)).toBe(1);
    const lines = out.stdout.split("\n");
    expect(lines[0]).toBe(formatClusterSummary(FIXTURE));
    expect(rowOf(lines, "node-3")?.[1]).toBe("down");
    expect(out.stderr).toBe("logctl: not healthy: node node-3 is down; shard 2 has no owner\n");
    expect(seen).toEqual([{ method: "GET", path: "/api/v1/cluster", body: "", contentType: null, auth: "Bearer k-123" }]);
  });

  test("cluster status --json: the status as received; exit 0 when every node is up and every shard owned", async () => {
    const { command, io, out, client } = setUp(["cluster", "status", "--json"]);
    const healthy = clusterWith(0);
    answer = () => Response.json(healthy);
    expect(await runClusterStatus(only(command, "cluster").json, io, client)).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(healthy);
    expect(out.stderr).toBe("");
  });

  test("an answer that is not a cluster status is reported, not crashed on", async () => {
    const { io, out, client } = setUp(["shards"]);
    answer = () => Response.json({ status: "ok" });
    expect(await runShards(false, io, client)).toBe(1);
    expect(out.stderr).toStartWith(`logctl: the node at ${stub.url.origin} answered 200 with something logctl does not understand: answer is not a cluster status`);
  });

  test("shards --json prints the shards array", async () => {
    const { command, io, out, client } = setUp(["shards", "--json"]);
    answer = () => Response.json(FIXTURE);
    expect(await runShards(only(command, "shards").json, io, client)).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual(FIXTURE.shards);
  });

  test("drain --wait polls every 500 ms until the node owns no shards (2, then 1, then 0)", async () => {
    const { command, io, out, client } = setUp(["drain", "node-2", "--wait"]);
    const counts = [2, 1, 0];
    answer = (request) => (request.method === "POST" ? Response.json({ node: "node-2", draining: true, shards: 2 }) : Response.json(clusterWith(counts.shift() ?? 0)));
    expect(await runDrain(only(command, "drain"), io, client)).toBe(0);
    expect(out.stdout).toBe("node-2 is draining: it still owns 2 shards\nnode-2 is drained: it can be stopped\n");
    expect(out.stderr).toBe("node-2: 2 shards left\nnode-2: 1 shard left\n");
    expect(out.sleepsMs).toEqual([500, 500, 500]);
    expect(seen.map((each) => `${each.method} ${each.path}`)).toEqual(["POST /api/v1/cluster/drain", "GET /api/v1/cluster", "GET /api/v1/cluster", "GET /api/v1/cluster"]);
    expect(seen[0]).toMatchObject({ body: '{"node":"node-2"}', contentType: "application/json", auth: "Bearer k-123" });
  });

  test("drain --wait --json prints one document: the node's state once drained", async () => {
    const { command, io, out, client } = setUp(["drain", "node-2", "--wait", "--json"]);
    answer = (request) => (request.method === "POST" ? Response.json({ node: "node-2", draining: true, shards: 1 }) : Response.json(clusterWith(0)));
    expect(await runDrain(only(command, "drain"), io, client)).toBe(0);
    expect(JSON.parse(out.stdout)).toEqual({ node: "node-2", draining: true, shards: 0 });
  });

  test("drain --wait past --timeout: exit 1 and a message saying what is left", async () => {
    const { command, io, out, client } = setUp(["drain", "node-2", "--wait", "--timeout", "1"]);
    answer = (request) => (request.method === "POST" ? Response.json({ node: "node-2", draining: true, shards: 2 }) : Response.json(clusterWith(2)));
    expect(await runDrain(only(command, "drain"), io, client)).toBe(1);
    expect(out.sleepsMs).toEqual([500, 500]);
    expect(out.stderr).toBe(
      "node-2: 2 shards left\nlogctl: node-2 still owns 2 shards after 1 s (--timeout); it keeps draining: wait again with logctl drain node-2 --wait, or look at logctl cluster status\n",
    );
  });

  test("drain of an unknown node: exit 1 with the node's message, nothing on stdout", async () => {
    const { command, io, out, client } = setUp(["drain", "node-9", "--wait"]);
    answer = () => notKnown('node "node-9" is not in the cluster');
    expect(await runDrain(only(command, "drain"), io, client)).toBe(1);
    expect(out).toMatchObject({ stdout: "", stderr: 'logctl: 404 unknown_node: node "node-9" is not in the cluster\n', sleepsMs: [] });
    expect(seen).toHaveLength(1);
  });

  test("undrain posts the node and prints its state", async () => {
    const { command, io, out, client } = setUp(["undrain", "node-2"]);
    answer = () => Response.json({ node: "node-2", draining: false, shards: 0 });
    expect(await runUndrain(only(command, "undrain"), io, client)).toBe(0);
    expect(out.stdout).toBe("node-2 is not draining: it owns 0 shards and can take more\n");
    expect(seen[0]).toMatchObject({ method: "POST", path: "/api/v1/cluster/undrain", body: '{"node":"node-2"}' });
  });

  test("rebalance prints the moves the node started", async () => {
    const { command, io, out, client } = setUp(["rebalance"]);
    answer = () => Response.json({ moves: [{ shard: 6, from: "node-1", to: "node-3" }, { shard: 2, from: null, to: "node-3" }] });
    expect(await runRebalance(only(command, "rebalance").json, io, client)).toBe(0);
    expect(out.stdout).toBe("rebalance: 2 moves\n  SHARD  FROM    TO\n      2  -       node-3\n      6  node-1  node-3\n");
    expect(seen).toEqual([{ method: "POST", path: "/api/v1/cluster/rebalance", body: "", contentType: null, auth: "Bearer k-123" }]);
  });
});
