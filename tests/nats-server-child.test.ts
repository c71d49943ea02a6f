// Goal: the nats-server child the node starts runs with a soft Go heap limit
// (GOMEMLIMIT, NATS_GOMEMLIMIT unless the environment sets one), which held its peak
// RSS at ~400 MB instead of ~1 GB under bench:compare's full-speed ingest.
// Method: start the real child through startNatsServer in a temporary directory, read
// the environment of its process from /proc, stop it.

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

test("the child runs with GOMEMLIMIT set", async () => {
  const before = process.env.GOMEMLIMIT;
  delete process.env.GOMEMLIMIT;
  try {
    server = await startNatsServer({ directory: root.path, port: 0, monitorPort: -1, log: () => undefined });
  } finally {
    if (before !== undefined) process.env.GOMEMLIMIT = before;
  }
  const environment = readFileSync(`/proc/${server.pid}/environ`, "utf8").split("\0");
  expect(environment).toContain("GOMEMLIMIT=384MiB");
});
