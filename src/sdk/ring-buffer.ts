// EventRing: the logger's bounded in-memory buffer. A circular queue of normalized
// events bounded twice, by count and by (estimated) bytes; it grows by doubling up to
// its count bound, so a logger configured for a million events does not allocate them
// up front. push() refuses an event that would pass either bound (the caller applies
// its full-buffer policy); take() removes a batch from the head, oldest first.

import type { NormalizedEvent } from "../protocol/event.ts";
import { EVENT_OVERHEAD_BYTES } from "./limits.ts";

/** Capacity the ring starts with before it grows. */
const INITIAL_CAPACITY = 1024;

/**
 * Estimated size of an event on the wire and in memory, bytes: its strings' lengths
 * plus a fixed overhead. String length counts UTF-16 units, which is the UTF-8 size
 * for ASCII; the encoder re-checks the real size of every batch (batch-encoder.ts).
 */
export function eventBytes(event: NormalizedEvent): number {
  return event.message.length + event.metadata.length + event.service.length + event.hostname.length + event.traceId.length + event.spanId.length + EVENT_OVERHEAD_BYTES;
}

export interface TakenBatch {
  events: NormalizedEvent[];
  bytes: number;
}

export class EventRing {
  private events: (NormalizedEvent | undefined)[] = [];
  private sizes: number[] = [];
  private times: number[] = [];
  private head = 0;
  private count = 0;
  private bytesHeld = 0;

  constructor(
    /** Most events held at once. */
    readonly eventsMax: number,
    /** Most estimated bytes held at once. */
    readonly bytesMax: number,
  ) {
    this.resize(Math.min(INITIAL_CAPACITY, eventsMax));
  }

  get size(): number {
    return this.count;
  }

  get bytes(): number {
    return this.bytesHeld;
  }

  /** When the oldest held event was pushed (ms, the caller's clock); undefined when empty. */
  get oldestAtMs(): number | undefined {
    return this.count === 0 ? undefined : this.times[this.head];
  }

  /** Whether an event of `bytes` would fit now. */
  fits(bytes: number): boolean {
    return this.count < this.eventsMax && this.bytesHeld + bytes <= this.bytesMax;
  }

  /** Appends at the tail; false (and nothing held) when the event would pass a bound. */
  push(event: NormalizedEvent, bytes: number, atMs: number): boolean {
    if (!this.fits(bytes)) return false;
    if (this.count === this.events.length) this.resize(Math.min(this.eventsMax, this.events.length * 2));
    const index = (this.head + this.count) % this.events.length;
    this.events[index] = event;
    this.sizes[index] = bytes;
    this.times[index] = atMs;
    this.count++;
    this.bytesHeld += bytes;
    return true;
  }

  /**
   * Removes up to `eventsMax` events from the head, stopping before the event that
   * would take the batch past `bytesMax`; the first event is always taken, whatever
   * its size, so an event larger than a batch still leaves.
   */
  take(eventsMax: number, bytesMax: number): TakenBatch {
    const events: NormalizedEvent[] = [];
    let bytes = 0;
    const capacity = this.events.length;
    while (this.count > 0 && events.length < eventsMax) {
      const size = this.sizes[this.head];
      if (events.length > 0 && bytes + size > bytesMax) break;
      events.push(this.events[this.head]!);
      this.events[this.head] = undefined;
      bytes += size;
      this.head = (this.head + 1) % capacity;
      this.count--;
    }
    this.bytesHeld -= bytes;
    if (this.count === 0) this.head = 0;
    return { events, bytes };
  }

  /** Whether the head holds a full batch by count or by bytes. */
  hasFullBatch(eventsMax: number, bytesMax: number): boolean {
    return this.count >= eventsMax || this.bytesHeld >= bytesMax;
  }

  /** Empties the ring, returning how many events it held. */
  clear(): number {
    const dropped = this.count;
    this.take(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
    return dropped;
  }

  private resize(capacity: number): void {
    const events = new Array<NormalizedEvent | undefined>(capacity);
    const sizes = new Array<number>(capacity).fill(0);
    const times = new Array<number>(capacity).fill(0);
    for (let offset = 0; offset < this.count; offset++) {
      const from = (this.head + offset) % this.events.length;
      events[offset] = this.events[from];
      sizes[offset] = this.sizes[from];
      times[offset] = this.times[from];
    }
    this.events = events;
    this.sizes = sizes;
    this.times = times;
    this.head = 0;
  }
}
