// FlowController: the node's ingest admission. Every tick it reads how far behind
// the slowest shard is, moves between "open" and "pause" with hysteresis, and tells
// producers over NATS (src/protocol/flow.ts) on every change and as a heartbeat. The
// HTTP gateway asks it before taking a body, and answers 429 while paused.

import type { NatsConnection } from "@nats-io/transport-node";
import { encodeFlowSignal, FLOW_PROTOCOL_VERSION, type FlowState } from "../protocol/flow.ts";
import { FLOW_SUBJECT } from "../protocol/subjects.ts";
import { FLOW_HEARTBEAT_MS, FLOW_RESUME_LAG_FRACTION, FLOW_SIGNAL_TTL_MS, FLOW_TICK_MS } from "../ingest/limits.ts";
import { tickWhenIdle, type Actor, type ActorContext } from "./actor.ts";

export type FlowControllerMessage = { type: "tick" };

/** Next state from the current one and the lag (pure): pause at `pauseAtMs`, open again at a fraction of it. */
export function nextFlowState(current: FlowState, lagMs: number, pauseAtMs: number): FlowState {
  if (current === "open") return lagMs >= pauseAtMs ? "pause" : "open";
  return lagMs <= pauseAtMs * FLOW_RESUME_LAG_FRACTION ? "open" : "pause";
}

/** How long a paused producer should wait before trying again if it hears nothing sooner. */
export function retryAfterMs(state: FlowState, lagMs: number): number {
  if (state === "open") return 0;
  return Math.min(FLOW_SIGNAL_TTL_MS, Math.max(FLOW_HEARTBEAT_MS, Math.round(lagMs)));
}

export interface Admission {
  open: boolean;
  lagMs: number;
  retryAfterMs: number;
}

export interface FlowControllerOptions {
  nc: NatsConnection;
  /** Names this node in its signals. */
  nodeId: string;
  /** The lag of the slowest shard right now, ms. */
  lagMs: (nowMs: number) => number;
  pauseAtMs: number;
  log: (line: string) => void;
  now?: () => number;
  tickMs?: number;
}

export class FlowController implements Actor<FlowControllerMessage> {
  readonly name = "flow-controller";
  private state: FlowState = "open";
  private lagMs = 0;
  private lastSignalAtMs = -Infinity;
  private pausedSinceMs = 0;
  private timer?: ReturnType<typeof setInterval>;
  private counters = { pauses: 0, pausedMs: 0, signals: 0 };
  private readonly now: () => number;

  constructor(private readonly options: FlowControllerOptions) {
    this.now = options.now ?? Date.now;
  }

  async start(context: ActorContext<FlowControllerMessage>): Promise<void> {
    this.timer = tickWhenIdle(context, this.options.tickMs ?? FLOW_TICK_MS, { type: "tick" });
  }

  handle(): void {
    const now = this.now();
    this.lagMs = Math.max(0, this.options.lagMs(now));
    const next = nextFlowState(this.state, this.lagMs, this.options.pauseAtMs);
    const changed = next !== this.state;
    if (changed) {
      if (next === "pause") {
        this.counters.pauses++;
        this.pausedSinceMs = now;
        this.options.log(`ingest paused: a shard is ${Math.round(this.lagMs)} ms behind (bound ${this.options.pauseAtMs} ms)`);
        this.state = next;
      } else {
        this.reopen(now, ` (lag ${Math.round(this.lagMs)} ms)`);
      }
    }
    if (changed || now - this.lastSignalAtMs >= FLOW_HEARTBEAT_MS) this.signal(now);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.state === "pause" && !this.options.nc.isClosed()) {
      // Producers should not wait out the ttl on a node that is going away.
      const now = this.now();
      this.reopen(now, ": the node is stopping");
      this.signal(now);
    }
  }

  /** Ends a pause: counts its time and logs it with `why` appended. */
  private reopen(now: number, why: string): void {
    this.counters.pausedMs += now - this.pausedSinceMs;
    this.options.log(`ingest open again after ${now - this.pausedSinceMs} ms${why}`);
    this.state = "open";
  }

  /** What the HTTP gateway asks before taking a body. */
  admission(): Admission {
    return { open: this.state === "open", lagMs: this.lagMs, retryAfterMs: retryAfterMs(this.state, this.lagMs) };
  }

  snapshot(): Record<string, unknown> {
    const pausedMs = this.counters.pausedMs + (this.state === "pause" ? this.now() - this.pausedSinceMs : 0);
    return { name: this.name, state: this.state, lagMs: Math.round(this.lagMs), pauseAtMs: this.options.pauseAtMs, pauses: this.counters.pauses, pausedMs, signals: this.counters.signals };
  }

  private signal(now: number): void {
    if (this.options.nc.isClosed()) return;
    this.lastSignalAtMs = now;
    this.counters.signals++;
    this.options.nc.publish(
      FLOW_SUBJECT,
      encodeFlowSignal({ v: FLOW_PROTOCOL_VERSION, node: this.options.nodeId, state: this.state, lagMs: Math.round(this.lagMs), retryAfterMs: retryAfterMs(this.state, this.lagMs), ttlMs: FLOW_SIGNAL_TTL_MS }),
    );
  }
}
