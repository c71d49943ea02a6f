// Goal: a service's logger flushes on exit without changing how the process exits.
// On SIGTERM or SIGINT, with no other handler, every buffered event is delivered and
// the process then dies of that same signal (as it would without the logger); with the
// application's own SIGTERM handler, the logger flushes and leaves the exit to it; with
// NATS unreachable the exit waits no longer than closeTimeoutMs; and a second signal
// while flushing ends the process at once.
// Method: a real node; the service is a child process (tests/fixtures/sdk/exit-child.ts)
// that imports "sluice/sdk", logs events that stay buffered (one-minute batch age) and
// idles; the test signals it, waits for its exit, and counts its events over HTTP.
// Every child is killed in afterEach if a test left it running.

import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { countEvents, ROOT, startTestNode, type TestNode } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

let node: TestNode;
const children = new Set<Bun.Subprocess>();
beforeAll(async () => {
  node = await startTestNode({ shards: 2 });
});
afterEach(() => {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
});
afterAll(async () => {
  await node?.stop();
});

interface Child {
  process: Bun.Subprocess<"ignore", "pipe", "pipe">;
  stdout: () => string;
  stderr: () => string;
}

/** Starts the child service and resolves once it printed that it logged its events. */
async function startChild(env: Record<string, string>): Promise<Child> {
  const child = Bun.spawn([process.execPath, join(ROOT, "tests/fixtures/sdk/exit-child.ts")], { cwd: ROOT, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  children.add(child);
  let stdout = "";
  let stderr = "";
  const decoder = new TextDecoder();
  void (async () => {
    for await (const chunk of child.stdout) stdout += decoder.decode(chunk);
  })();
  void (async () => {
    for await (const chunk of child.stderr) stderr += decoder.decode(chunk);
  })();
  await waitFor(() => /logged \d+/.test(stdout), { timeoutMs: 30_000, what: `the child to log (stderr: ${stderr})` });
  return { process: child, stdout: () => stdout, stderr: () => stderr };
}

test.each<["SIGTERM" | "SIGINT"]>([["SIGTERM"], ["SIGINT"]])("%s: buffered events are delivered, then the process dies of the signal", async (signal) => {
  const service = `sdk-exit-${signal.toLowerCase()}`;
  const child = await startChild({ SLUICE_TEST_NATS_URL: node.natsUrl, SLUICE_TEST_SERVICE: service, SLUICE_TEST_EVENTS: "500", SLUICE_TEST_WAIT_READY: "1" });
  expect(child.stdout()).toContain("logged 500");
  child.process.kill(signal);
  await child.process.exited;
  expect({ exitCode: child.process.exitCode, signalCode: child.process.signalCode }).toEqual({ exitCode: null, signalCode: signal });
  await waitFor(async () => (await countEvents(node.httpUrl, `service=${service}`)) === 500, { what: "the 500 events flushed on exit" });
});

test("with the application's own SIGTERM handler, the logger flushes and the application decides the exit", async () => {
  const service = "sdk-exit-own-handler";
  const child = await startChild({ SLUICE_TEST_NATS_URL: node.natsUrl, SLUICE_TEST_SERVICE: service, SLUICE_TEST_EVENTS: "300", SLUICE_TEST_WAIT_READY: "1", SLUICE_TEST_MODE: "own-handler" });
  child.process.kill("SIGTERM");
  expect(await child.process.exited).toBe(3);
  expect(child.stdout()).toContain("app handler: acked 300");
  await waitFor(async () => (await countEvents(node.httpUrl, `service=${service}`)) === 300, { what: "the 300 events" });
});

test("with NATS unreachable, the exit waits closeTimeoutMs at most and says what it abandoned", async () => {
  const child = await startChild({ SLUICE_TEST_NATS_URL: "nats://127.0.0.1:1", SLUICE_TEST_EVENTS: "10", SLUICE_TEST_CLOSE_TIMEOUT_MS: "300" });
  const signalledAt = performance.now();
  child.process.kill("SIGTERM");
  await child.process.exited;
  expect(child.process.signalCode).toBe("SIGTERM");
  expect(performance.now() - signalledAt).toBeLessThan(10_000);
  expect(child.stderr()).toContain("logger: batch_abandoned");
});

test("a second signal while the flush waits ends the process at once", async () => {
  const child = await startChild({ SLUICE_TEST_NATS_URL: "nats://127.0.0.1:1", SLUICE_TEST_EVENTS: "10", SLUICE_TEST_CLOSE_TIMEOUT_MS: "60000" });
  const signalledAt = performance.now();
  child.process.kill("SIGTERM");
  // A different signal, so the kernel cannot merge it with the first one still pending.
  child.process.kill("SIGINT");
  await child.process.exited;
  expect(["SIGTERM", "SIGINT"]).toContain(String(child.process.signalCode));
  expect(performance.now() - signalledAt).toBeLessThan(10_000);
  expect(child.stderr()).not.toContain("batch_abandoned");
});
