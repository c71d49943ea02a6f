// Goal: cluster/docker-compose.yml describes the 3-node cluster Docker users get: it is a
// valid compose file; three nats services on an image >= 2.12, each with a mounted
// config that clusters it and fsyncs every write (sync_interval: always); three Sluice
// nodes built from the repository, each on its own server first; and a MinIO service.
// Method: no Docker engine is needed. `docker-compose config -q` validates the file and
// `docker-compose config` prints it resolved (anchors merged, paths absolute), which is
// checked with plain string matching; the mounted nats configs are read from disk.
// docker-compose missing fails the test with how to install it (npm test installs it).

import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT } from "./helpers/processes.ts";

const COMPOSE_FILE = join(ROOT, "cluster/docker-compose.yml");
/** docker-compose 1.29 is Python; parsing and resolving the file takes about a second. */
const COMPOSE_TIMEOUT_MS = 30_000;
/** Oldest nats image with sync_interval and the JetStream durability fixes the nodes need. */
const NATS_IMAGE_MIN = [2, 12] as const;

function dockerCompose(args: string[]): { exitCode: number; stdout: string; stderr: string } {
  const binary = Bun.which("docker-compose");
  if (!binary) {
    throw new Error("docker-compose is not installed: `apt-get install docker-compose` (Debian/Ubuntu; `npm test` does it when run as root) or `pip install docker-compose`");
  }
  const result = Bun.spawnSync([binary, "-f", COMPOSE_FILE, ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe", timeout: COMPOSE_TIMEOUT_MS });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** The resolved file's services, name -> the lines of its block (indented 4+). */
function serviceBlocks(yaml: string): Map<string, string> {
  const blocks = new Map<string, string>();
  let inServices = false;
  let current: string | null = null;
  for (const line of yaml.split("\n")) {
    if (/^\S/.test(line)) {
      inServices = line === "services:";
      current = null;
      continue;
    }
    if (!inServices) continue;
    const name = /^ {2}([A-Za-z0-9_.-]+):\s*$/.exec(line);
    if (name) {
      current = name[1];
      blocks.set(current, "");
    } else if (current) {
      blocks.set(current, blocks.get(current) + line + "\n");
    }
  }
  return blocks;
}

/** The items of a list under `key:` in a block (`- item` lines, as docker-compose prints them). */
function listUnder(block: string, key: string): string[] {
  const lines = block.split("\n");
  const start = lines.findIndex((line) => line.trimEnd() === `    ${key}:`);
  if (start === -1) return [];
  const items: string[] = [];
  for (const line of lines.slice(start + 1)) {
    const item = /^ {4}- (.*)$/.exec(line);
    if (!item) break;
    items.push(item[1].replace(/^'(.*)'$/, "$1"));
  }
  return items;
}

function scalar(block: string, key: string): string | undefined {
  return new RegExp(`^[ -]+${key}: (.*)$`, "m").exec(block)?.[1].replace(/^'(.*)'$/, "$1");
}

function atLeast(tag: string, [major, minor]: readonly [number, number]): boolean {
  const match = /^(\d+)\.(\d+)/.exec(tag);
  if (!match) return false;
  return Number(match[1]) !== major ? Number(match[1]) > major : Number(match[2]) >= minor;
}

test("docker-compose config -q accepts the file", () => {
  const result = dockerCompose(["config", "-q"]);
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
});

test("three clustered nats >= 2.12 with sync_interval: always, three Sluice nodes, MinIO", () => {
  const result = dockerCompose(["config"]);
  expect(result.exitCode).toBe(0);
  const services = serviceBlocks(result.stdout);

  const nats = [...services].filter(([, block]) => /^ {4}image: nats:/m.test(block));
  const natsSummary = nats.map(([name, block]) => {
    const tag = scalar(block, "image")!.slice("nats:".length);
    const command = listUnder(block, "command");
    const configPath = command[command.indexOf("--config") + 1];
    // The bind mount whose target is the file the command reads.
    const mount = listUnder(block, "volumes").find((volume) => volume.split(":")[1] === configPath);
    const config = mount ? readFileSync(mount.split(":")[0], "utf8") : "";
    return {
      name,
      tagAtLeast212: atLeast(tag, NATS_IMAGE_MIN),
      configMounted: mount !== undefined,
      serverName: /^server_name: "?([^"\s]+)"?/m.exec(config)?.[1],
      syncAlways: /jetstream\s*\{[^}]*^\s*sync_interval:\s*always\s*$/m.test(config),
      clustered: /cluster\s*\{[^}]*name:\s*"?sluice"?/m.test(config),
    };
  });
  const natsNames = ["nats-1", "nats-2", "nats-3"];
  expect(natsSummary).toEqual(natsNames.map((name) => ({ name, tagAtLeast212: true, configMounted: true, serverName: name, syncAlways: true, clustered: true })));

  const sluice = [...services].filter(([, block]) => new RegExp(`^ {6}context: ${ROOT.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "m").test(block));
  const sluiceSummary = sluice.map(([name, block]) => ({
    name,
    nodeId: scalar(block, "SLUICE_NODE_ID"),
    httpHost: scalar(block, "SLUICE_HTTP_HOST"),
    walReplicas: scalar(block, "SLUICE_WAL_REPLICAS"),
    segmentStore: scalar(block, "SLUICE_SEGMENT_STORE"),
    ownServerFirst: scalar(block, "SLUICE_NATS_URL")?.split(",")[0],
    servers: scalar(block, "SLUICE_NATS_URL")?.split(",").length,
    published: scalar(block, "published"),
    dataVolume: listUnder(block, "volumes").some((volume) => /^[a-z0-9-]+-data:\/data/.test(volume)),
  }));
  expect(sluiceSummary).toEqual(
    [1, 2, 3].map((index) => ({
      name: `sluice-${index}`,
      nodeId: `node-${index}`,
      httpHost: "0.0.0.0",
      walReplicas: "3",
      segmentStore: "objectstore",
      ownServerFirst: `nats://nats-${index}:4222`,
      servers: 3,
      published: String(8180 + index),
      dataVolume: true,
    })),
  );

  const minio = services.get("minio") ?? "";
  expect({ image: scalar(minio, "image")?.split(":")[0], healthcheck: /^ {4}healthcheck:$/m.test(minio) }).toEqual({ image: "minio/minio", healthcheck: true });
});

test("the Sluice image runs the node from the repository's sources", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  const ignored = readFileSync(join(ROOT, ".dockerignore"), "utf8").split("\n");
  expect({
    base: /^FROM oven\/bun:/m.test(dockerfile),
    command: /^CMD \["bun", "src\/main.ts"\]$/m.test(dockerfile),
    ignoresNodeModules: ignored.includes("node_modules"),
    ignoresClusterState: ignored.includes(".cluster"),
  }).toEqual({ base: true, command: true, ignoresNodeModules: true, ignoresClusterState: true });
});
