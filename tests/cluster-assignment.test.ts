// The shard plan and the lease rules are pure: tested here without NATS.

import { describe, expect, test } from "bun:test";
import { planAssignment, planMoves } from "../src/cluster/assignment.ts";
import { LEASE_TTL_MS, leaseState, RevisionClock } from "../src/cluster/leases.ts";
import { seeded } from "./helpers/random.ts";

function counts(targets: (string | null)[]): Map<string, number> {
  const result = new Map<string, number>();
  for (const target of targets) if (target !== null) result.set(target, (result.get(target) ?? 0) + 1);
  return result;
}

describe("planAssignment", () => {
  test("a first node takes every shard; a second takes half, moving nothing else", () => {
    const first = planAssignment({ shards: 16, eligible: ["a"], owners: Array(16).fill(null) });
    expect(first.every((target) => target === "a")).toBe(true);
    const second = planAssignment({ shards: 16, eligible: ["a", "b"], owners: first });
    expect(counts(second)).toEqual(new Map([["a", 8], ["b", 8]]));
    expect(planMoves(first, second).every((move) => move.from === "a" && move.to === "b")).toBe(true);
  });

  test("a dead node's shards go to the survivors, and the survivors keep their own", () => {
    const owners = Array.from({ length: 16 }, (_, shard) => ["a", "b", "c"][shard % 3]);
    const targets = planAssignment({ shards: 16, eligible: ["a", "b"], owners });
    expect(counts(targets)).toEqual(new Map([["a", 8], ["b", 8]]));
    targets.forEach((target, shard) => {
      if (owners[shard] !== "c") expect(target).toBe(owners[shard]);
    });
  });

  test("a draining node (not eligible) is planned out entirely", () => {
    const owners = Array.from({ length: 12 }, (_, shard) => ["a", "b", "c"][shard % 3]);
    const targets = planAssignment({ shards: 12, eligible: ["a", "c"], owners });
    expect(targets.includes("b")).toBe(false);
    expect(planMoves(owners, targets).every((move) => move.from === "b")).toBe(true);
  });

  test("no eligible node: nothing is planned", () => {
    expect(planAssignment({ shards: 3, eligible: [], owners: ["a", null, "b"] })).toEqual([null, null, null]);
  });

  test("random holdings: balanced within one, moves only the excess, and the same for every caller order", () => {
    const random = seeded(42);
    for (let round = 0; round < 500; round++) {
      const shards = 1 + Math.floor(random() * 64);
      const all = ["n1", "n2", "n3", "n4", "n5"];
      const eligible = all.filter(() => random() < 0.7);
      const owners = Array.from({ length: shards }, () => (random() < 0.2 ? null : all[Math.floor(random() * all.length)]));
      const targets = planAssignment({ shards, eligible, owners });
      const shuffled = planAssignment({ shards, eligible: [...eligible].reverse(), owners });
      expect(shuffled).toEqual(targets);
      if (eligible.length === 0) continue;
      const load = eligible.map((node) => counts(targets).get(node) ?? 0);
      expect(Math.max(...load) - Math.min(...load)).toBeLessThanOrEqual(1);
      // Minimal movement: a shard moves only if its holder is gone or holds more than its share.
      const share = Math.ceil(shards / eligible.length);
      const moved = planMoves(owners, targets).filter((move) => move.from !== null && eligible.includes(move.from));
      const excess = eligible.reduce((sum, node) => sum + Math.max(0, owners.filter((owner) => owner === node).length - Math.floor(shards / eligible.length)), 0);
      expect(moved.length).toBeLessThanOrEqual(excess);
      for (const node of eligible) expect(counts(targets).get(node) ?? 0).toBeLessThanOrEqual(share);
    }
  });
});

describe("leases", () => {
  const self = { node: "a", instance: "i2" };
  test("free, mine, a previous start of mine, held and lapsed", () => {
    expect(leaseState(null, 0, self)).toBe("free");
    expect(leaseState({ node: null, instance: "", epoch: 4 }, 99_999, self)).toBe("free");
    expect(leaseState({ node: "a", instance: "i2", epoch: 1 }, 99_999, self)).toBe("mine");
    expect(leaseState({ node: "a", instance: "i1", epoch: 1 }, 0, self)).toBe("stale-self");
    expect(leaseState({ node: "b", instance: "x", epoch: 1 }, LEASE_TTL_MS - 1, self)).toBe("held");
    expect(leaseState({ node: "b", instance: "x", epoch: 1 }, LEASE_TTL_MS, self)).toBe("lapsed");
  });

  test("a revision's standing time restarts when the revision changes, on the observer's own clock", () => {
    const clock = new RevisionClock();
    clock.observe("shard.1", 7, 1_000);
    clock.observe("shard.1", 7, 3_000);
    expect(clock.standingMs("shard.1", 5_000)).toBe(4_000);
    clock.observe("shard.1", 8, 5_500);
    expect(clock.standingMs("shard.1", 6_000)).toBe(500);
    expect(clock.standingMs("shard.2", 6_000)).toBe(0);
  });

  test("after a stretch the observer could not read, every standing time starts over: an outage does not make a holder look lapsed", () => {
    const clock = new RevisionClock();
    clock.observe("shard.1", 7, 1_000);
    clock.observe("node.b", 3, 1_500);
    // Reads failed from 2 s to 9 s (a leader election); the first good read is at 9 s.
    clock.restartAll(9_000);
    clock.observe("shard.1", 7, 9_000);
    expect(leaseState({ node: "b", instance: "x", epoch: 1 }, clock.standingMs("shard.1", 9_000), { node: "a", instance: "i" })).toBe("held");
    expect(clock.standingMs("node.b", 9_000 + LEASE_TTL_MS - 1)).toBe(LEASE_TTL_MS - 1);
    // A holder that still does not renew lapses one lease time after the reads came back.
    expect(leaseState({ node: "b", instance: "x", epoch: 1 }, clock.standingMs("shard.1", 9_000 + LEASE_TTL_MS), { node: "a", instance: "i" })).toBe("lapsed");
  });
});
