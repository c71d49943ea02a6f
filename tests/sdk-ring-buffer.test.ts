// Goal: the logger's ring buffer holds events in order within both of its bounds
// (count and estimated bytes), refuses exactly the event that would pass either, hands
// out batches from the head bounded by count and bytes (always at least one event, so
// an event larger than a batch still leaves), keeps order while it grows and wraps,
// and reports the time of its oldest event.
// Method: pure; EventRing driven directly with events whose estimated size is known.

import { describe, expect, test } from "bun:test";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { EVENT_OVERHEAD_BYTES } from "../src/sdk/limits.ts";
import { EventRing, eventBytes } from "../src/sdk/ring-buffer.ts";

/** An event whose eventBytes is exactly `bytes` (at least the fixed overhead plus a 1-character message). */
function event(message: string, bytes = EVENT_OVERHEAD_BYTES + message.length): NormalizedEvent {
  const padding = bytes - EVENT_OVERHEAD_BYTES - message.length;
  return { timestampUs: 1, level: "INFO", service: "s".repeat(padding), hostname: "", traceId: "", spanId: "", message, metadata: "" };
}

const messages = (events: readonly NormalizedEvent[]) => events.map((each) => each.message);

describe("EventRing", () => {
  test("eventBytes is the strings' lengths plus the fixed overhead", () => {
    expect(eventBytes({ timestampUs: 0, level: "INFO", service: "ab", hostname: "cde", traceId: "f", spanId: "gh", message: "ijkl", metadata: "{}" })).toBe(2 + 3 + 1 + 2 + 4 + 2 + EVENT_OVERHEAD_BYTES);
  });

  test("refuses exactly the event past the count bound, and takes again once a batch left", () => {
    const ring = new EventRing(3, 1_000_000);
    expect(["a", "b", "c", "d"].map((name) => ring.push(event(name), 100, 0))).toEqual([true, true, true, false]);
    expect({ size: ring.size, bytes: ring.bytes }).toEqual({ size: 3, bytes: 300 });
    expect(messages(ring.take(2, Number.MAX_SAFE_INTEGER).events)).toEqual(["a", "b"]);
    expect(ring.push(event("e"), 100, 0)).toBe(true);
    expect(messages(ring.take(10, Number.MAX_SAFE_INTEGER).events)).toEqual(["c", "e"]);
    expect({ size: ring.size, bytes: ring.bytes }).toEqual({ size: 0, bytes: 0 });
  });

  test("refuses the event that would pass the byte bound, yet takes a smaller one after it", () => {
    const ring = new EventRing(100, 1000);
    expect(ring.push(event("a", 600), 600, 0)).toBe(true);
    expect(ring.push(event("b", 401), 401, 0)).toBe(false);
    expect(ring.push(event("c", 400), 400, 0)).toBe(true);
    expect(ring.fits(1)).toBe(false);
    expect({ size: ring.size, bytes: ring.bytes }).toEqual({ size: 2, bytes: 1000 });
  });

  test.each<[string, number, number, string[]]>([
    ["by count", 2, Number.MAX_SAFE_INTEGER, ["a", "b"]],
    ["by bytes: stops before the event that would pass", 100, 250, ["a", "b"]],
    ["by bytes: exactly at the bound", 100, 300, ["a", "b", "c"]],
    ["a first event larger than the batch still leaves", 100, 10, ["a"]],
  ])("take %s", (_what, eventsMax, bytesMax, expected) => {
    const ring = new EventRing(100, 1_000_000);
    for (const name of ["a", "b", "c", "d"]) ring.push(event(name), 100, 0);
    const taken = ring.take(eventsMax, bytesMax);
    expect({ messages: messages(taken.events), bytes: taken.bytes, left: ring.size }).toEqual({ messages: expected, bytes: expected.length * 100, left: 4 - expected.length });
  });

  test("keeps order while growing past its initial capacity and wrapping around", () => {
    const ring = new EventRing(5000, Number.MAX_SAFE_INTEGER);
    const seen: string[] = [];
    let next = 0;
    // Push 700, take 500, repeatedly: the head moves around the array while it doubles.
    for (let round = 0; round < 7; round++) {
      for (let index = 0; index < 700; index++) expect(ring.push(event(String(next++)), 1, 0)).toBe(true);
      seen.push(...messages(ring.take(500, Number.MAX_SAFE_INTEGER).events));
    }
    seen.push(...messages(ring.take(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER).events));
    expect(seen).toEqual(Array.from({ length: next }, (_, index) => String(index)));
  });

  test("oldestAtMs is the push time of the head; hasFullBatch follows count and bytes; clear empties", () => {
    const ring = new EventRing(10, 1000);
    expect(ring.oldestAtMs).toBeUndefined();
    ring.push(event("a"), 100, 5);
    ring.push(event("b"), 100, 9);
    expect(ring.oldestAtMs).toBe(5);
    expect([ring.hasFullBatch(2, 10_000), ring.hasFullBatch(3, 200), ring.hasFullBatch(3, 201)]).toEqual([true, true, false]);
    ring.take(1, Number.MAX_SAFE_INTEGER);
    expect(ring.oldestAtMs).toBe(9);
    expect(ring.clear()).toBe(1);
    expect({ size: ring.size, bytes: ring.bytes, oldest: ring.oldestAtMs }).toEqual({ size: 0, bytes: 0, oldest: undefined });
  });
});
