// The one parser of `scripts/cluster.ts` arguments: named defaults, ranges checked,
// a frozen result. Node flags for `up` come after `--` and pass through unchanged.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { CLUSTER_NODES_MAX } from "./local-cluster.ts";
import { DEFAULT_PORT_BASES, PORT_MAX, type PortBases } from "./ports.ts";
import { ClusterError } from "./processes.ts";

/** Where `up` keeps its state, data and logs unless --dir says otherwise (relative to the working directory). */
const DEFAULT_CLUSTER_DIR = ".cluster";
/** Nodes of `up` without --nodes: the smallest cluster that keeps a quorum when one server dies. */
const DEFAULT_CLUSTER_NODES = 3;
const SHARDS_MAX = 1024;

export const USAGE = `usage:
  cluster up [--nodes ${DEFAULT_CLUSTER_NODES}] [--dir ${DEFAULT_CLUSTER_DIR}] [--shards N]
             [--nats-port ${DEFAULT_PORT_BASES.nats}] [--route-port ${DEFAULT_PORT_BASES.route}] [--monitor-port ${DEFAULT_PORT_BASES.monitor}] [--http-port ${DEFAULT_PORT_BASES.http}]
             [-- <flags for every node, e.g. --seal-age-ms 2000>]
      starts N clustered nats-servers and N Sluice nodes in the background; node i gets
      port base + i - 1 of each kind (a base of 0 picks free ports)
  cluster down [--dir ${DEFAULT_CLUSTER_DIR}] [--purge]
      stops them (SIGTERM, then SIGKILL after a bounded wait); --purge also deletes data and logs
  cluster status [--dir ${DEFAULT_CLUSTER_DIR}] [--json]
      every node and server: pid, alive, URLs, readiness, owned shards`;

export type ClusterCommand =
  | { command: "up"; dir: string; nodes: number; shards?: number; ports: PortBases; nodeFlags: readonly string[] }
  | { command: "down"; dir: string; purge: boolean }
  | { command: "status"; dir: string; json: boolean }
  | { command: "help" };

function integer(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value)) throw new ClusterError("bad_options", `--${name}: ${JSON.stringify(raw)} is not a whole number`);
  if (value < min || value > max) throw new ClusterError("bad_options", `--${name}: ${value} is outside ${min}..${max}`);
  return value;
}

const FLAGS = {
  nodes: { type: "string" },
  dir: { type: "string" },
  shards: { type: "string" },
  "nats-port": { type: "string" },
  "route-port": { type: "string" },
  "monitor-port": { type: "string" },
  "http-port": { type: "string" },
  purge: { type: "boolean" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** Which flags each command accepts: a flag given to the wrong command is a mistake worth reporting. */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  up: ["nodes", "dir", "shards", "nats-port", "route-port", "monitor-port", "http-port"],
  down: ["dir", "purge"],
  status: ["dir", "json"],
};

export function parseClusterCommand(argv: readonly string[], cwd: string): Readonly<ClusterCommand> {
  const separator = argv.indexOf("--");
  const own = separator === -1 ? [...argv] : argv.slice(0, separator);
  const nodeFlags = separator === -1 ? [] : argv.slice(separator + 1);
  let parsed;
  try {
    parsed = parseArgs({ args: own, options: FLAGS, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ClusterError("bad_options", (error as Error).message, { cause: error });
  }
  const { values, positionals } = parsed;
  if (values.help || positionals.length === 0) return Object.freeze({ command: "help" });
  const [command, ...rest] = positionals;
  if (!(command in COMMAND_FLAGS)) throw new ClusterError("bad_options", `unknown command ${JSON.stringify(command)}; use up, down or status`);
  if (rest.length > 0) throw new ClusterError("bad_options", `unexpected argument ${JSON.stringify(rest[0])} (node flags go after --)`);
  const misplaced = Object.keys(values).filter((flag) => !COMMAND_FLAGS[command].includes(flag));
  if (misplaced.length > 0) throw new ClusterError("bad_options", `--${misplaced[0]} does not apply to ${command}`);
  if (command !== "up" && nodeFlags.length > 0) throw new ClusterError("bad_options", `node flags after -- only apply to up`);
  const dir = resolve(cwd, values.dir ?? DEFAULT_CLUSTER_DIR);
  if (command === "down") return Object.freeze({ command, dir, purge: values.purge ?? false });
  if (command === "status") return Object.freeze({ command, dir, json: values.json ?? false });
  const ports: PortBases = Object.freeze({
    nats: integer("nats-port", values["nats-port"], DEFAULT_PORT_BASES.nats, 0, PORT_MAX),
    route: integer("route-port", values["route-port"], DEFAULT_PORT_BASES.route, 0, PORT_MAX),
    monitor: integer("monitor-port", values["monitor-port"], DEFAULT_PORT_BASES.monitor, 0, PORT_MAX),
    http: integer("http-port", values["http-port"], DEFAULT_PORT_BASES.http, 0, PORT_MAX),
  });
  const shards = values.shards === undefined ? undefined : integer("shards", values.shards, 0, 1, SHARDS_MAX);
  return Object.freeze({ command: "up", dir, nodes: integer("nodes", values.nodes, DEFAULT_CLUSTER_NODES, 1, CLUSTER_NODES_MAX), shards, ports, nodeFlags: Object.freeze(nodeFlags) });
}
