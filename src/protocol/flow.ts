// The flow signal: how a node tells producers it has fallen behind. JetStream acks a
// publish once it is stored, however far the consumers lag, so a producer at full
// speed can outrun the node without bound (the ingest benchmark measured 621k events/s
// acked against 314k stored, and ingest-to-searchable grew past 60 s). Each node
// publishes its state on FLOW_SUBJECT when it changes and as a heartbeat; producers
// wait while any node says "pause". A signal expires after its ttl, so a producer
// never waits on a node that died while paused. Producers that ignore the signal
// still meet the WAL's byte bound (publishes refused, HTTP 503).

import { FLOW_SIGNAL_TTL_MAX_MS } from "./limits.ts";

export const FLOW_PROTOCOL_VERSION = 1;

export type FlowState = "open" | "pause";

export interface FlowSignal {
  v: typeof FLOW_PROTOCOL_VERSION;
  /** Which node speaks (a cluster has several). */
  node: string;
  state: FlowState;
  /** How far behind the node's slowest shard is: now minus the stored time of the oldest message it has not handled. */
  lagMs: number;
  /** For "pause": how long a producer should wait before it tries again if it hears nothing. */
  retryAfterMs: number;
  /** The signal holds this long unless renewed. */
  ttlMs: number;
}

export type FlowParse = { ok: true; signal: FlowSignal } | { ok: false; error: string };

export function encodeFlowSignal(signal: FlowSignal): string {
  return JSON.stringify(signal);
}

/** Parses a signal off the wire; anything malformed is an error value, never a throw. */
export function parseFlowSignal(text: string): FlowParse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, error: `flow signal is not JSON: ${error instanceof Error ? error.message : String(error)}` };
  }
  if (typeof value !== "object" || value === null) return { ok: false, error: "flow signal is not an object" };
  const record = value as Record<string, unknown>;
  if (record.v !== FLOW_PROTOCOL_VERSION) return { ok: false, error: `flow signal version ${JSON.stringify(record.v) ?? "undefined"} is not ${FLOW_PROTOCOL_VERSION}` };
  if (typeof record.node !== "string" || record.node === "") return { ok: false, error: "flow signal has no node" };
  if (record.state !== "open" && record.state !== "pause") return { ok: false, error: `flow state ${String(record.state)} is not open or pause` };
  for (const key of ["lagMs", "retryAfterMs", "ttlMs"] as const) {
    const number = record[key];
    if (typeof number !== "number" || !Number.isFinite(number) || number < 0) return { ok: false, error: `flow signal ${key} is not a non-negative number` };
  }
  // A pause that holds for days would be a denial of service by one bad message.
  for (const key of ["retryAfterMs", "ttlMs"] as const) {
    if ((record[key] as number) > FLOW_SIGNAL_TTL_MAX_MS) return { ok: false, error: `flow signal ${key} ${String(record[key])} is over the ${FLOW_SIGNAL_TTL_MAX_MS} ms bound` };
  }
  return { ok: true, signal: { v: FLOW_PROTOCOL_VERSION, node: record.node, state: record.state, lagMs: record.lagMs as number, retryAfterMs: record.retryAfterMs as number, ttlMs: record.ttlMs as number } };
}
