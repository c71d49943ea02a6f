// FlowGate: the producer's side of flow control (src/protocol/flow.ts). It listens
// on the flow subject and keeps, per node, whether that node asked producers to pause
// and until when the request holds. `wait()` resolves at once while every node is
// open, and otherwise when the last pause is lifted or has expired.
//
//   const gate = FlowGate.listen(nc);
//   await gate.wait();            // before each publish
//   await js.publish(subject, batch);

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { parseFlowSignal, type FlowSignal } from "../protocol/flow.ts";
import { FLOW_SUBJECT } from "../protocol/subjects.ts";

/** Nodes a gate tracks; signals from more are ignored (a bound on a subject anyone may publish to). */
export const FLOW_GATE_NODES_MAX = 1024;

export class FlowWaitTimeout extends Error {
  readonly code = "flow_wait_timeout";
}

export class FlowGate {
  /** Node -> time (ms) until which its pause holds. */
  private readonly pausedUntil = new Map<string, number>();
  private waiters: (() => void)[] = [];
  private timer?: ReturnType<typeof setTimeout>;
  private subscription?: Subscription;
  private counters = { signals: 0, malformed: 0, pauses: 0, waits: 0, waitedMs: 0 };

  constructor(private readonly now: () => number = Date.now) {}

  /** A gate fed from the flow subject of this connection. */
  static listen(nc: NatsConnection, onMalformed?: (error: string) => void): FlowGate {
    const gate = new FlowGate();
    gate.subscription = nc.subscribe(FLOW_SUBJECT, {
      callback: (error, message) => {
        if (error) return;
        const parsed = parseFlowSignal(message.string());
        if (parsed.ok) gate.observe(parsed.signal);
        else {
          gate.counters.malformed++;
          onMalformed?.(parsed.error);
        }
      },
    });
    return gate;
  }

  /** Takes one signal (the subscription calls this; tests may too). */
  observe(signal: FlowSignal): void {
    this.counters.signals++;
    if (signal.state === "pause") {
      this.expire();
      if (!this.pausedUntil.has(signal.node)) {
        if (this.pausedUntil.size >= FLOW_GATE_NODES_MAX) return;
        this.counters.pauses++;
      }
      this.pausedUntil.set(signal.node, this.now() + signal.ttlMs);
    } else {
      this.pausedUntil.delete(signal.node);
    }
    this.settle();
  }

  get isOpen(): boolean {
    this.expire();
    return this.pausedUntil.size === 0;
  }

  /**
   * Resolves once no node asks to pause. With `timeoutMs`, rejects with
   * FlowWaitTimeout if that takes longer (the node may be overloaded for good).
   */
  async wait(timeoutMs?: number): Promise<void> {
    if (this.isOpen) return;
    const startedAt = this.now();
    this.counters.waits++;
    await new Promise<void>((resolve, reject) => {
      let deadline: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        if (deadline) clearTimeout(deadline);
        resolve();
      };
      this.waiters.push(done);
      if (timeoutMs !== undefined) {
        deadline = setTimeout(() => {
          this.waiters = this.waiters.filter((waiter) => waiter !== done);
          this.settle();
          reject(new FlowWaitTimeout(`Sluice asked producers to pause for over ${timeoutMs} ms: the node is behind on storing events`));
        }, timeoutMs);
      }
      this.settle();
    }).finally(() => (this.counters.waitedMs += this.now() - startedAt));
  }

  stats(): { signals: number; malformed: number; pauses: number; waits: number; waitedMs: number; pausedNodes: number } {
    return { ...this.counters, pausedNodes: this.pausedUntil.size };
  }

  close(): void {
    this.subscription?.unsubscribe();
    this.pausedUntil.clear();
    this.settle();
  }

  private expire(): void {
    const now = this.now();
    for (const [node, until] of this.pausedUntil) if (until <= now) this.pausedUntil.delete(node);
  }

  /** Releases waiters when open; otherwise re-checks when the earliest pause expires. */
  private settle(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.isOpen) {
      for (const waiter of this.waiters.splice(0)) waiter();
      return;
    }
    if (this.waiters.length === 0) return;
    const earliest = Math.min(...this.pausedUntil.values());
    this.timer = setTimeout(() => this.settle(), Math.max(1, earliest - this.now()));
  }
}
