#!/usr/bin/env node
// The README's two commands land here (plain Node.js, no dependencies), so a fresh
// Debian machine with only Node.js and npm can run Sluice:
//   npm start  -> installs what is missing, then runs a single node (bun src/main.ts)
//   npm test   -> installs what is missing, then runs the whole suite (bun test)
//   npm run bench -> the ingest benchmark
// Missing npm packages are installed with npm; a missing nats-server with apt-get
// when running as root, otherwise it says how to install it. For `test`, a missing
// docker-compose (which tests/cluster-compose.test.ts validates the compose file with)
// is installed the same way, and only warned about when that is not possible.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const BUN = join(ROOT, "node_modules", ".bin", "bun");
const [command = "start", ...args] = process.argv.slice(2);

function say(line) {
  console.error(`[sluice] ${line}`);
}

function run(cmd, cmdArgs, options = {}) {
  const result = spawnSync(cmd, cmdArgs, { stdio: "inherit", cwd: ROOT, ...options });
  return result.status === 0;
}

function works(cmd, cmdArgs) {
  const result = spawnSync(cmd, cmdArgs, { stdio: "ignore", cwd: ROOT });
  return !result.error && result.status === 0;
}

function ensurePackages() {
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  // What the node and tests run on: the dependencies and devDependencies (bun itself, pino for the SDK's tests).
  const needed = [...Object.keys(manifest.dependencies ?? {}), ...Object.keys(manifest.devDependencies ?? {})];
  const missing = needed.filter((name) => !existsSync(join(ROOT, "node_modules", name, "package.json")));
  if (missing.length > 0 || !works(BUN, ["--version"])) {
    say(`installing npm packages (${missing.length > 0 ? `missing: ${missing.join(", ")}` : "bun not runnable"}) …`);
    // `npm install` rather than `npm ci`: it honours the lock but tolerates a lock made on another platform.
    if (!run("npm", ["install", "--no-audit", "--no-fund"])) {
      say("npm install failed; see the output above");
      process.exit(1);
    }
  }
  if (!works(BUN, ["--version"])) {
    // npm may skip the bun package's postinstall; it only links the platform binary.
    say("running the bun package's install step …");
    run("node", [join(ROOT, "node_modules", "bun", "install.js")]);
  }
  if (!works(BUN, ["--version"])) {
    say("bun is not runnable from node_modules/.bin/bun; try `npm rebuild bun`");
    process.exit(1);
  }
}

/**
 * Whether the command `name` works (`name ...versionArgs` exits 0); when it does not and
 * we run as root, the Debian package of the same name is installed with apt-get first.
 */
function worksOrAptInstall(name, versionArgs) {
  if (works(name, versionArgs)) return true;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (!root || !works("apt-get", ["--version"])) return false;
  say(`${name} is missing; installing it with apt-get (Debian package ${name}) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  if (run("apt-get", ["update", "-qq"], { env }) && run("apt-get", ["install", "-y", "-qq", name], { env }) && works(name, versionArgs)) return true;
  say(`apt-get could not install ${name}`);
  return false;
}

function ensureNatsServer() {
  if (process.env.SLUICE_NATS_URL && command === "start") return;
  if (worksOrAptInstall("nats-server", ["--version"])) return;
  say("nats-server is required: install it with `sudo apt-get install nats-server` (Debian/Ubuntu),");
  say("or start Sluice with SLUICE_NATS_URL=nats://host:4222 pointing at a server with JetStream enabled.");
  process.exit(1);
}

/**
 * The compose file's test runs docker-compose (config only, no Docker engine): install
 * it like nats-server, but a machine without it still runs the rest of the suite.
 */
function ensureDockerCompose() {
  if (command !== "test") return;
  if (worksOrAptInstall("docker-compose", ["version"])) return;
  say("WARNING: docker-compose is missing, so tests/cluster-compose.test.ts will fail;");
  say("install it with `sudo apt-get install docker-compose` (Debian/Ubuntu) or `pip install docker-compose`.");
}

function exec(cmd, cmdArgs) {
  const child = spawn(cmd, cmdArgs, { stdio: "inherit", cwd: ROOT });
  // Ctrl-C reaches the whole process group already; a SIGTERM sent to us alone is passed on.
  for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, () => child.kill(signal));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

ensurePackages();
ensureNatsServer();
ensureDockerCompose();
switch (command) {
  case "start":
    exec(BUN, [join(ROOT, "src", "main.ts"), ...args]);
    break;
  case "test":
    exec(BUN, ["test", "--timeout", "180000", ...args]);
    break;
  case "bench":
    exec(BUN, [join(ROOT, "scripts", "bench-ingest.ts"), ...args]);
    break;
  default:
    say(`unknown command ${command}; use start, test or bench`);
    process.exit(2);
}
