// Entry point of logctl, the admin/query CLI of a Sluice node (`bin/logctl` runs it).
// The only place that reads argv, the environment and signals; commands get them as
// parameters. Exit status: 0 success, 1 operating failure, 2 usage error.

import { describe } from "../actors/supervisor.ts";
import { SluiceClient } from "./client.ts";
import { runClusterStatus, runDrain, runRebalance, runShards, runUndrain } from "./cluster.ts";
import { runIngest } from "./ingest.ts";
import { processIo, type CliIo } from "./io.ts";
import { parseCliArgs, UsageError, type CliCommand } from "./options.ts";
import { runSearch, runTail } from "./search.ts";
import { runStatus } from "./status.ts";

async function run(command: CliCommand, io: CliIo): Promise<number> {
  if (command.command === "help") {
    await io.stdout(`${command.text}\n`);
    return 0;
  }
  const client = new SluiceClient(command.connection);
  switch (command.command) {
    case "status":
      return runStatus(command.json, io, client);
    case "ingest":
      return runIngest(command, io, client);
    case "search":
      return runSearch(command, io, client);
    case "tail":
      return runTail(command, io, client, stopOnSignals());
    case "cluster":
      return runClusterStatus(command.json, io, client);
    case "shards":
      return runShards(command.json, io, client);
    case "drain":
      return runDrain(command, io, client);
    case "undrain":
      return runUndrain(command, io, client);
    case "rebalance":
      return runRebalance(command.json, io, client);
  }
}

/** Aborts on the first SIGINT or SIGTERM so tail stops between polls; a second one exits at once. */
function stopOnSignals(): AbortSignal {
  const controller = new AbortController();
  const stop = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
  return controller.signal;
}

async function main(): Promise<number> {
  const io = processIo();
  let command: CliCommand;
  try {
    command = parseCliArgs(process.argv.slice(2), process.env, Date.now());
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`logctl: ${error.message}\n`);
    return 2;
  }
  try {
    return await run(command, io);
  } catch (error) {
    // A failure no command turned into a message of its own (an unreadable stream, a bug): say what it was.
    io.stderr(`logctl: ${describe(error)}\n`);
    return 1;
  }
}

process.exitCode = await main();
