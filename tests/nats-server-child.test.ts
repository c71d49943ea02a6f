// Goal: the nats-server child the node starts inherits the node's environment, so an
// operator's GOMEMLIMIT caps its Go heap (the README gives the RSS and CPU it traded).
// Method: start the real child through startNatsServer in a temporary directory with
// GOMEMLIMIT set, read the environment of its process from /proc, stop it.

import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { startNatsServer, type RunningNatsServer } from "../src/nats/server-process.ts";
import { tempDir } from "./helpers/processes.ts";

const root = tempDir("nats-child");
let server: RunningNatsServer | undefined;
afterAll(async () => {
  await server?.stop();
  root.remove();
});

test("the child runs with the node's GOMEMLIMIT", async () => {
  const before = process.env.GOMEMLIMIT;
  process.env.GOMEMLIMIT = "384MiB";
  try {
    server = await startNatsServer({ directory: root.path, port: 0, monitorPort: -1, log: () => undefined });
  } finally {
    if (before === undefined) delete process.env.GOMEMLIMIT;
    else process.env.GOMEMLIMIT = before;
  }
  const environment = readFileSync(`/proc/${server.pid}/environ`, "utf8").split("\0");
  expect(environment).toContain("GOMEMLIMIT=384MiB");
});
