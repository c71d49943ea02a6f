// A local Sluice cluster in the background, for trying the cluster by hand and for
// scripts (see scripts/local-cluster/local-cluster.ts for the same from code):
//
//   scripts/cluster up --nodes 3        # N nats-servers (JetStream, clustered) + N nodes; exits once all are ready
//   scripts/cluster status [--json]     # pids, alive, URLs, readiness, owned shards
//   scripts/cluster down [--purge]      # SIGTERM, bounded wait, SIGKILL; --purge deletes data and logs
//
// The processes outlive `up`; their pids, ports and directories are in <dir>/cluster.json
// (default ./.cluster). Progress goes to stderr, results to stdout.

import { existsSync, readdirSync, rmSync, rmdirSync } from "node:fs";
import { parseClusterCommand, USAGE, type ClusterCommand } from "./local-cluster/cli-options.ts";
import { NATS_SERVER_STOP_TIMEOUT_MS, NODE_STOP_TIMEOUT_MS, startLocalCluster, stopNodesThenServers } from "./local-cluster/local-cluster.ts";
import { ClusterError, stopProcess } from "./local-cluster/processes.ts";
import { collectStatus, formatStatus } from "./local-cluster/status.ts";
import { natsAlive, nodeAlive, readState, removeState, stateOf, statePath, writeState, type ClusterState } from "./local-cluster/state-file.ts";

const say = (line: string) => console.error(`[cluster] ${line}`);

/** Processes of the state file that still run, as "node-1 (pid 123)". */
function runningProcesses(state: ClusterState): string[] {
  return [...state.nodes.filter(nodeAlive).map((node) => `${node.id} (pid ${node.pid})`), ...state.nats.filter(natsAlive).map((server) => `${server.name} (pid ${server.pid})`)];
}

async function up(options: Extract<ClusterCommand, { command: "up" }>): Promise<number> {
  const previous = readState(options.dir);
  if (previous) {
    const running = runningProcesses(previous);
    if (running.length > 0) {
      say(`a cluster from ${statePath(options.dir)} is still running: ${running.join(", ")}`);
      say(`stop it first with: scripts/cluster down --dir ${options.dir}`);
      return 1;
    }
    say(`${statePath(options.dir)} is left from a cluster that no longer runs; replacing it`);
  }
  // Ctrl-C during startup stops what was started instead of leaving it detached and unrecorded.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const startedAt = new Date();
  let state: ClusterState;
  try {
    const cluster = await startLocalCluster({
      nodes: options.nodes,
      baseDir: options.dir,
      shards: options.shards,
      natsBasePort: options.ports.nats,
      routeBasePort: options.ports.route,
      monitorBasePort: options.ports.monitor,
      httpBasePort: options.ports.http,
      extraNodeFlags: options.nodeFlags,
      detached: true,
      signal: abort.signal,
      log: say,
    });
    state = stateOf(cluster, startedAt);
    writeState(options.dir, state);
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  console.log(`Sluice cluster is up: ${state.nodes.length} node(s), state in ${statePath(options.dir)}`);
  for (const node of state.nodes) console.log(`  ${node.id}  HTTP ${node.http_url}  NATS ${node.nats_url}  pid ${node.pid}  log ${node.log}`);
  for (const server of state.nats) console.log(`  ${server.name}  NATS ${server.url}  monitor ${server.monitor_url}  pid ${server.pid}  log ${server.log}`);
  console.log(`NATS servers (for --nats-url / SLUICE_NATS_URL): ${state.nats.map((server) => server.url).join(",")}`);
  console.log(`Stop it with: scripts/cluster down --dir ${options.dir}`);
  return 0;
}

/** Stops one recorded process if it is still the one we started; a reused pid is left alone. */
async function stopRecorded(label: string, pid: number, ours: boolean, timeoutMs: number): Promise<void> {
  if (!ours) {
    say(`${label}: pid ${pid} is not running (or now belongs to another program); nothing to stop`);
    return;
  }
  const how = await stopProcess(pid, timeoutMs);
  say(`${label}: pid ${pid} ${how === "exited" ? "stopped" : `killed after ${timeoutMs} ms`}`);
}

function purge(state: ClusterState): void {
  const paths = [...state.nodes.flatMap((node) => [node.data_dir, node.log]), ...state.nats.flatMap((server) => [server.directory, server.log])];
  for (const path of paths) rmSync(path, { recursive: true, force: true });
  // The directory goes too if nothing of anyone else's is in it.
  if (existsSync(state.dir) && readdirSync(state.dir).length === 0) rmdirSync(state.dir);
  say(`deleted data and logs under ${state.dir}`);
}

async function down(options: Extract<ClusterCommand, { command: "down" }>): Promise<number> {
  const state = readState(options.dir);
  if (!state) {
    say(`no cluster state in ${statePath(options.dir)}; nothing to stop`);
    return 0;
  }
  const failures = await stopNodesThenServers(
    state.nodes.map((node) => () => stopRecorded(node.id, node.pid, nodeAlive(node), NODE_STOP_TIMEOUT_MS)),
    state.nats.map((server) => () => stopRecorded(server.name, server.pid, natsAlive(server), NATS_SERVER_STOP_TIMEOUT_MS)),
  );
  for (const failure of failures) say(`could not stop: ${(failure as Error).message}`);
  if (failures.length > 0) {
    say(`kept ${statePath(options.dir)} so that down can be retried`);
    return 1;
  }
  removeState(options.dir);
  if (options.purge) purge(state);
  else say(`stopped; data and logs kept in ${state.dir} (down --purge deletes them)`);
  return 0;
}

async function status(options: Extract<ClusterCommand, { command: "status" }>): Promise<number> {
  const state = readState(options.dir);
  if (!state) {
    say(`no cluster state in ${statePath(options.dir)}: start one with scripts/cluster up`);
    return 1;
  }
  const report = await collectStatus(state);
  process.stdout.write(options.json ? JSON.stringify(report, null, 2) + "\n" : formatStatus(report));
  return 0;
}

async function main(argv: string[]): Promise<number> {
  let options: Readonly<ClusterCommand>;
  try {
    options = parseClusterCommand(argv, process.cwd());
  } catch (error) {
    if (!(error instanceof ClusterError)) throw error;
    console.error(`cluster: ${error.message}\n\n${USAGE}`);
    return 2;
  }
  switch (options.command) {
    case "help":
      console.log(USAGE);
      return 0;
    case "up":
      return up(options);
    case "down":
      return down(options);
    case "status":
      return status(options);
  }
}

try {
  process.exit(await main(process.argv.slice(2)));
} catch (error) {
  // Operating failures (port taken, a process that would not start) print their message, not a stack.
  console.error(`cluster: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
