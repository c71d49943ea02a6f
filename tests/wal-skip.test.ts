// The partition's checks on its WAL consumer: nats-server 2.9 can start a consumer
// whose leader is still catching up after a restart from that server's own idea of the
// stream, jumping over messages the stream holds (the fault test meets it under a
// nats-server kill); and a delivery lost in flight comes again only after the ack
// wait, so the WAL floor must not pass it meanwhile. These pin down the rules.

import { describe, expect, test } from "bun:test";
import { consumerStall, missedDelivery, skippedWalMessage } from "../src/actors/partition-actor.ts";

describe("skippedWalMessage(startSeq, firstDelivered, firstStored)", () => {
  test.each([
    // The case seen: started at 64, the stream's first message of the shard from 64 is 69, the consumer delivered 75 first.
    ["a first delivery past a message the stream holds", 64, 75, 69, 69],
    ["the start sequence itself jumped over", 64, 75, 64, 64],
  ])("%s is a skip", (_, start, delivered, stored, skipped) => {
    expect(skippedWalMessage(start, delivered, stored)).toBe(skipped);
  });

  test.each([
    ["the stream's first message from the start delivered first", 64, 69, 69],
    ["the start message delivered first", 64, 64, 64],
    ["no message of the shard from the start", 64, 75, undefined],
    ["an answer before the start (a server that ignored it)", 64, 75, 12],
    ["a stored message after the first delivery", 64, 75, 80],
  ])("%s is no skip", (_, start, delivered, stored) => {
    expect(skippedWalMessage(start, delivered, stored)).toBeUndefined();
  });
});

describe("missedDelivery(lastDelivered, delivered)", () => {
  test.each([
    ["the first delivery of a new consumer", 0, 1],
    ["the next delivery", 41, 42],
    ["a delivery resent by a new consumer leader", 41, 40],
    ["the same delivery twice", 41, 41],
  ])("%s misses nothing", (_, last, delivered) => {
    expect(missedDelivery(last, delivered)).toBeUndefined();
  });

  test.each([
    ["a new consumer whose first delivery never arrived", 0, 2, 1],
    ["deliveries lost in flight (a reconnect)", 41, 45, 42],
  ])("%s names the first one missed", (_, last, delivered, missed) => {
    expect(missedDelivery(last, delivered)).toBe(missed);
  });
});

describe("consumerStall({ waitedMs, handedBack, lastDelivered, due })", () => {
  test("a wait shorter than 15 s (an election) is never a stall, whatever is due", () => {
    expect(consumerStall({ waitedMs: 14_999, handedBack: 3, lastDelivered: 10, due: { seq: 99, waitingMs: 60_000 } })).toBeUndefined();
  });

  test("past 15 s, handed-back messages (due again after 250 ms) make it a stall without asking the stream", () => {
    expect(consumerStall({ waitedMs: 15_000, handedBack: 2, lastDelivered: 10 })).toContain("2 handed-back message(s) were due again");
  });

  test("past 15 s with nothing handed back, the shard's first stored message past the last delivered decides", () => {
    expect(consumerStall({ waitedMs: 20_000, handedBack: 0, lastDelivered: 2011 })).toBe("ask");
    // The case seen: shard 4's consumer without quorum held back seq 2068 for minutes.
    expect(consumerStall({ waitedMs: 20_000, handedBack: 0, lastDelivered: 2011, due: { seq: 2068, waitingMs: 16_000 } })).toContain("has held seq 2068 of the shard (past seq 2011, the last delivered) for 16 s");
    // A message stored just now may still be on its way to a quiet shard's loop.
    expect(consumerStall({ waitedMs: 600_000, handedBack: 0, lastDelivered: 2094, due: { seq: 2095, waitingMs: 3 } })).toBeUndefined();
    // An idle shard: nothing stored past the last delivered.
    expect(consumerStall({ waitedMs: 600_000, handedBack: 0, lastDelivered: 2094, due: null })).toBeUndefined();
  });
});
