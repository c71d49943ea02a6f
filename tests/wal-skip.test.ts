// The partition's check on its WAL consumer's first delivery: nats-server 2.9 can start
// a consumer whose leader is still catching up after a restart from that server's own
// first sequence, jumping over messages the stream holds. The fault test meets it
// under a nats-server kill; these pin down the rule.

import { describe, expect, test } from "bun:test";
import { skippedWalMessage } from "../src/actors/partition-actor.ts";

describe("skippedWalMessage", () => {
  test("a first delivery past a message the stream holds from the start is a skip", () => {
    // The case seen: started at 64, the stream's first message of the shard is 69, the consumer delivered 75 first.
    expect(skippedWalMessage(64, 75, 69)).toBe(69);
  });

  test("a first delivery of the stream's first message from the start is no skip", () => {
    expect(skippedWalMessage(64, 69, 69)).toBeUndefined();
    expect(skippedWalMessage(64, 64, 64)).toBeUndefined();
  });

  test("a shard with no message from the start has nothing to skip", () => {
    expect(skippedWalMessage(64, 75, undefined)).toBeUndefined();
  });

  test("a stored message before the start (an answer that ignored it) is not taken for a skip", () => {
    expect(skippedWalMessage(64, 75, 12)).toBeUndefined();
  });
});
