// Waiting out a JetStream leader election: transient failures (timeouts, no responders,
// "temporarily unavailable") are retried within the bound and logged at most every few
// seconds; anything else, and a failure past the bound, is thrown as it came.

import { expect, test } from "bun:test";
import { isTransientJetStreamError, untilJetStreamAnswers } from "../src/nats/jetstream-wait.ts";

test.each([
  ["TIMEOUT", true],
  ["no responders: '$KV.SLUICE_NODES.node.a'", true],
  ["jetstream is not enabled", true],
  ["JetStream system temporarily unavailable", true],
  ["no suitable peers for placement", true],
  ["wrong last sequence: 12", false],
  ["stream not found", false],
  ["the WAL stream SLUICE_WAL has 4 shards but this node is configured for 6", false],
])("%s is transient: %p", (message, transient) => {
  expect(isTransientJetStreamError(new Error(message))).toBe(transient);
});

test("transient failures are retried until the call answers, with one log line", async () => {
  const lines: string[] = [];
  let calls = 0;
  const answer = await untilJetStreamAnswers("stream", async () => {
    if (++calls < 3) throw new Error("TIMEOUT");
    return "answered";
  }, (line) => lines.push(line), 10_000);
  expect(answer).toBe("answered");
  expect(calls).toBe(3);
  expect(lines).toEqual(["waiting for JetStream (stream, 0 s of 10 s): TIMEOUT"]);
});

test("a failure that is not transient is thrown at once", async () => {
  let calls = 0;
  await expect(untilJetStreamAnswers("stream", async () => {
    calls++;
    throw new Error("wrong last sequence: 12");
  }, () => undefined, 10_000)).rejects.toThrow("wrong last sequence");
  expect(calls).toBe(1);
});

test("past the bound the last transient failure is thrown", async () => {
  let calls = 0;
  await expect(untilJetStreamAnswers("stream", async () => {
    calls++;
    throw new Error("no responders");
  }, () => undefined, 600)).rejects.toThrow("no responders");
  expect(calls).toBe(2);
});
