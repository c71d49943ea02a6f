// Entry point of a Sluice node: `bun src/main.ts [flags]` (npm start runs it).

import cac from "cac";
import { ConfigError, OPTION_TABLE, parseNodeOptions } from "./node/config.ts";
import { startNode } from "./node/node.ts";
import { describe } from "./actors/supervisor.ts";
import { execWithWorkerPool } from "./node/worker-pool.ts";

// Before any statement: may replace this process with itself started with a larger worker pool (same pid).
execWithWorkerPool((line) => console.error(`sluice: ${line}`));

const cli = cac("sluice");
for (const option of OPTION_TABLE) cli.option(`--${option.flag} <value>`, `${option.doc} (env ${option.env}, default ${String(option.default ?? "none")})`);
cli.help();
const parsed = cli.parse();
if (parsed.options.help) process.exit(0);

const flags: Record<string, string | number | undefined> = {};
for (const option of OPTION_TABLE) {
  const camel = option.flag.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
  const given = parsed.options[camel];
  // A flag given twice: the last one wins, as in most CLIs.
  const value = Array.isArray(given) ? given[given.length - 1] : given;
  if (value !== undefined) flags[option.key] = typeof value === "number" ? value : String(value);
}

const log = (line: string) => console.error(`${new Date().toISOString()} ${line}`);

let options;
try {
  options = parseNodeOptions(flags, process.env);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`sluice: ${error.message}`);
    process.exit(2);
  }
  throw error;
}

let node: Awaited<ReturnType<typeof startNode>> | undefined;
let exiting = false;
async function shutdown(signal: string, code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  log(`${signal}: stopping intake, sealing and acking, then exiting`);
  const forced = setTimeout(() => {
    log("shutdown took over 60 s; exiting now (the WAL replays anything unsealed)");
    process.exit(code || 1);
  }, 60_000);
  try {
    await node?.stop();
  } catch (error) {
    log(`shutdown failed: ${describe(error)}`);
    code = code || 1;
  }
  clearTimeout(forced);
  process.exit(code);
}
process.on("SIGTERM", () => void shutdown("SIGTERM", 0));
process.on("SIGINT", () => void shutdown("SIGINT", 0));
process.on("uncaughtException", (error) => {
  log(`crash: ${describe(error)}\n${error.stack ?? ""}`);
  void shutdown("crash", 1);
});
process.on("unhandledRejection", (reason) => {
  log(`crash (unhandled rejection): ${describe(reason)}`);
  void shutdown("crash", 1);
});

try {
  node = await startNode(options, log);
} catch (error) {
  log(`sluice: could not start: ${describe(error)}`);
  process.exit(1);
}
console.log(`Sluice is up.
  node       ${node.nodeId}
  HTTP API   ${node.httpUrl}     (try: curl ${node.httpUrl}/api/v1/system/health)
  NATS       ${node.natsUrl}     (publish to sluice.wal.<tenant>.<shard>, shards 0..${options.shards - 1})
  data dir   ${node.dataDir}
Press Ctrl-C to stop.`);
// A machine-readable line for scripts and tests.
console.log(JSON.stringify({ event: "ready", node_id: node.nodeId, http_url: node.httpUrl, nats_url: node.natsUrl, pid: process.pid }));
