// Goal: ingest flow control holds together piece by piece. The flow signal round-trips
// and every malformed one is an error value naming the problem, never a throw; the
// node's state moves open -> pause at the lag bound and back only at the resume
// fraction (hysteresis), with a retry hint clamped between the heartbeat and the ttl;
// the FlowController actor publishes on every change and as a heartbeat, answers
// admission, counts pauses and opens again when stopped; the producer's FlowGate waits
// while any node says pause, until every pause is lifted or has expired, bounds the
// nodes it tracks, and listens on the flow subject; the HTTP ingest gateway refuses a
// body with 429 "ingest_paused" and publishes nothing while the node is paused.
// Method: pure functions over tables; the FlowController and FlowGate driven by hand
// with an injected clock (real timers only for ttl expiry and wait timeouts, bounded by
// the test timeout), one real nats-server for the file (startTestNats) to carry flow
// signals and to back the gateway's JetStream WAL stream. Waits are on conditions with
// deadlines; a pending promise is shown pending with Bun.peek.status after the event
// loop had a full turn (setImmediate).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { encodeFlowSignal, FLOW_PROTOCOL_VERSION, parseFlowSignal, type FlowSignal, type FlowState } from "../src/protocol/flow.ts";
import { FLOW_SUBJECT, WAL_STREAM } from "../src/protocol/subjects.ts";
import { FLOW_HEARTBEAT_MS, FLOW_RESUME_LAG_FRACTION, FLOW_SIGNAL_TTL_MS, INGEST_HTTP_PAUSE_LAG_MIN_MS } from "../src/ingest/limits.ts";
import { FlowController, nextFlowState, retryAfterMs, type Admission } from "../src/actors/flow-controller.ts";
import { FLOW_GATE_NODES_MAX, FlowGate, FlowWaitTimeout } from "../src/sdk/flow-gate.ts";
import { FLOW_SIGNAL_TTL_MAX_MS } from "../src/protocol/limits.ts";
import { IngestGateway } from "../src/ingest/ingest-gateway.ts";
import { errorResponse, HttpError } from "../src/http/errors.ts";
import { ensureWalStream } from "../src/nats/wal.ts";
import { startTestNats, type TestNats } from "./helpers/processes.ts";
import { waitFor } from "./helpers/wait.ts";

/** Lets every queued microtask and one macrotask run, so a promise that can settle has. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function signal(overrides: Partial<FlowSignal> = {}): FlowSignal {
  return { v: FLOW_PROTOCOL_VERSION, node: "node-a", state: "pause", lagMs: 1200, retryAfterMs: 1200, ttlMs: FLOW_SIGNAL_TTL_MS, ...overrides };
}

/** The JSON text of a valid signal with some fields replaced or (undefined) removed. */
function wire(overrides: Record<string, unknown>): string {
  return JSON.stringify({ ...signal(), ...overrides });
}

let nats: TestNats;
let nc: NatsConnection;
beforeAll(async () => {
  nats = await startTestNats();
  nc = await connect({ servers: nats.url });
});
afterAll(async () => {
  await nc?.close();
  await nats?.stop();
});

describe("flow signal wire format", () => {
  test.each<[string, FlowSignal]>([
    ["a pause", signal()],
    ["an open", signal({ state: "open", lagMs: 0, retryAfterMs: 0 })],
    ["zero ttl and fractional lag", signal({ lagMs: 12.5, ttlMs: 0 })],
  ])("%s round-trips through encode and parse", (_what, original) => {
    expect(parseFlowSignal(encodeFlowSignal(original))).toEqual({ ok: true, signal: original });
  });

  test("fields beyond the signal's are dropped", () => {
    expect(parseFlowSignal(wire({ extra: "ignored", nested: { a: 1 } }))).toEqual({ ok: true, signal: signal() });
  });

  test.each<[string, string, string]>([
    ["null", "null", "flow signal is not an object"],
    ["a number", "42", "flow signal is not an object"],
    ["a string", '"pause"', "flow signal is not an object"],
    ["an array", "[]", "flow signal version undefined is not 1"],
    ["a wrong version", wire({ v: 2 }), "flow signal version 2 is not 1"],
    ["no version", wire({ v: undefined }), "flow signal version undefined is not 1"],
    ["the version as text", wire({ v: "1" }), 'flow signal version "1" is not 1'],
    ["a ttl over the bound", wire({ ttlMs: FLOW_SIGNAL_TTL_MAX_MS + 1 }), `flow signal ttlMs ${FLOW_SIGNAL_TTL_MAX_MS + 1} is over the ${FLOW_SIGNAL_TTL_MAX_MS} ms bound`],
    ["a retry over the bound", wire({ retryAfterMs: 30 * 24 * 3600 * 1000 }), `flow signal retryAfterMs 2592000000 is over the ${FLOW_SIGNAL_TTL_MAX_MS} ms bound`],
    ["no node", wire({ node: undefined }), "flow signal has no node"],
    ["an empty node", wire({ node: "" }), "flow signal has no node"],
    ["a numeric node", wire({ node: 7 }), "flow signal has no node"],
    ["a bad state", wire({ state: "paused" }), "flow state paused is not open or pause"],
    ["no state", wire({ state: undefined }), "flow state undefined is not open or pause"],
    ["a state in capitals", wire({ state: "PAUSE" }), "flow state PAUSE is not open or pause"],
    ["a negative lagMs", wire({ lagMs: -1 }), "flow signal lagMs is not a non-negative number"],
    ["lagMs as text", wire({ lagMs: "5" }), "flow signal lagMs is not a non-negative number"],
    ["lagMs null (what NaN encodes to)", encodeFlowSignal(signal({ lagMs: Number.NaN })), "flow signal lagMs is not a non-negative number"],
    ["lagMs overflowing to Infinity", wire({ lagMs: 0 }).replace('"lagMs":0', '"lagMs":1e400'), "flow signal lagMs is not a non-negative number"],
    ["no lagMs", wire({ lagMs: undefined }), "flow signal lagMs is not a non-negative number"],
    ["a negative retryAfterMs", wire({ retryAfterMs: -5 }), "flow signal retryAfterMs is not a non-negative number"],
    ["retryAfterMs as text", wire({ retryAfterMs: "1000" }), "flow signal retryAfterMs is not a non-negative number"],
    ["retryAfterMs null (what NaN encodes to)", encodeFlowSignal(signal({ retryAfterMs: Number.NaN })), "flow signal retryAfterMs is not a non-negative number"],
    ["a negative ttlMs", wire({ ttlMs: -3000 }), "flow signal ttlMs is not a non-negative number"],
    ["ttlMs as text", wire({ ttlMs: "3000" }), "flow signal ttlMs is not a non-negative number"],
    ["ttlMs null (what NaN encodes to)", encodeFlowSignal(signal({ ttlMs: Number.NaN })), "flow signal ttlMs is not a non-negative number"],
    ["no ttlMs", wire({ ttlMs: undefined }), "flow signal ttlMs is not a non-negative number"],
  ])("%s is refused with an error naming the problem", (_what, text, error) => {
    expect(parseFlowSignal(text)).toEqual({ ok: false, error });
  });

  test.each(["", "not json", "{", '{"v":1,', "\u0000\u00ff"])("text that is not JSON (%p) is an error value, not a throw", (text) => {
    let reason = "";
    try {
      JSON.parse(text);
    } catch (error) {
      reason = (error as Error).message;
    }
    expect(reason).not.toBe("");
    expect(parseFlowSignal(text)).toEqual({ ok: false, error: `flow signal is not JSON: ${reason}` });
  });
});

describe("nextFlowState and retryAfterMs (pure)", () => {
  const PAUSE_AT = 1000;
  const RESUME_AT = PAUSE_AT * FLOW_RESUME_LAG_FRACTION;

  test("the bounds these cases assume", () => {
    expect({ FLOW_RESUME_LAG_FRACTION, FLOW_HEARTBEAT_MS, FLOW_SIGNAL_TTL_MS, RESUME_AT }).toEqual({ FLOW_RESUME_LAG_FRACTION: 0.3, FLOW_HEARTBEAT_MS: 1000, FLOW_SIGNAL_TTL_MS: 3000, RESUME_AT: 300 });
  });

  test.each<[FlowState, number, FlowState]>([
    ["open", 0, "open"],
    ["open", RESUME_AT, "open"],
    ["open", PAUSE_AT - 1, "open"],
    ["open", PAUSE_AT - 0.001, "open"],
    ["open", PAUSE_AT, "pause"],
    ["open", 60_000, "pause"],
    ["pause", 60_000, "pause"],
    ["pause", PAUSE_AT, "pause"],
    ["pause", PAUSE_AT - 1, "pause"],
    ["pause", RESUME_AT + 1, "pause"],
    ["pause", RESUME_AT + 0.001, "pause"],
    ["pause", RESUME_AT, "open"],
    ["pause", 0, "open"],
  ])(`from %s at lag %p ms (pause at ${PAUSE_AT}) the state is %s`, (current, lagMs, expected) => {
    expect(nextFlowState(current, lagMs, PAUSE_AT)).toBe(expected);
  });

  test.each<[FlowState, number, number]>([
    ["open", 0, 0],
    ["open", 5_000, 0],
    ["pause", 0, FLOW_HEARTBEAT_MS],
    ["pause", 999.6, FLOW_HEARTBEAT_MS],
    ["pause", 1_500, 1_500],
    ["pause", 1_500.4, 1_500],
    ["pause", 2_999.5, FLOW_SIGNAL_TTL_MS],
    ["pause", 3_000, FLOW_SIGNAL_TTL_MS],
    ["pause", 600_000, FLOW_SIGNAL_TTL_MS],
  ])("retryAfterMs(%s, lag %p) is %p", (state, lagMs, expected) => {
    expect(retryAfterMs(state, lagMs)).toBe(expected);
  });
});

describe("FlowController", () => {
  const NODE = "node-under-test";
  const PAUSE_AT = 1000;

  /** A controller on `connection` with a lag and a clock the test sets. */
  function controller(connection: NatsConnection) {
    const state = { nowMs: 0, lagMs: 0 };
    const log: string[] = [];
    const actor = new FlowController({ nc: connection, nodeId: NODE, lagMs: () => state.lagMs, pauseAtMs: PAUSE_AT, log: (line) => void log.push(line), now: () => state.nowMs });
    /** Sets the clock and the lag, then runs one tick. */
    const tick = (nowMs: number, lagMs: number) => {
      state.nowMs = nowMs;
      state.lagMs = lagMs;
      actor.handle();
    };
    return { actor, state, log, tick };
  }

  /** Everything heard on the flow subject, parsed. */
  function listen(connection: NatsConnection) {
    const heard: unknown[] = [];
    const subscription = connection.subscribe(FLOW_SUBJECT, { callback: (_error, message) => void heard.push(parseFlowSignal(message.string())) });
    /** Waits until as many signals as expected arrived, then compares them all (in order). */
    const expectHeard = async (expected: FlowSignal[]) => {
      await connection.flush();
      await waitFor(() => heard.length >= expected.length, { timeoutMs: 5_000, what: `${expected.length} flow signals` });
      expect(heard).toEqual(expected.map((each) => ({ ok: true, signal: each })));
    };
    return { heard, subscription, expectHeard };
  }

  const sent = (state: FlowState, lagMs: number, retry: number): FlowSignal => ({ v: 1, node: NODE, state, lagMs, retryAfterMs: retry, ttlMs: FLOW_SIGNAL_TTL_MS });

  test("publishes on every change and as a heartbeat, answers admission, counts pauses, and opens when stopped while paused", async () => {
    const { heard, subscription, expectHeard } = listen(nc);
    const { actor, tick, log } = controller(nc);
    try {
      expect(actor.admission()).toEqual({ open: true, lagMs: 0, retryAfterMs: 0 });

      // The first tick announces the state (nothing was said yet); a negative lag reads as 0.
      tick(0, -5);
      expect(actor.admission()).toEqual({ open: true, lagMs: 0, retryAfterMs: 0 });
      await expectHeard([sent("open", 0, 0)]);

      // Below the bound and within the heartbeat: nothing new to say.
      tick(100, PAUSE_AT - 1);
      expect(actor.admission()).toEqual({ open: true, lagMs: PAUSE_AT - 1, retryAfterMs: 0 });

      // At the bound: pause, said at once.
      tick(200, PAUSE_AT);
      expect(actor.admission()).toEqual({ open: false, lagMs: PAUSE_AT, retryAfterMs: FLOW_HEARTBEAT_MS });
      await expectHeard([sent("open", 0, 0), sent("pause", PAUSE_AT, FLOW_HEARTBEAT_MS)]);
      expect(actor.snapshot()).toEqual({ name: "flow-controller", state: "pause", lagMs: PAUSE_AT, pauseAtMs: PAUSE_AT, pauses: 1, pausedMs: 0, signals: 2 });

      // Still paused, heartbeat not due yet: admission follows the lag, no signal.
      tick(700, 2_500.4);
      expect(actor.admission()).toEqual({ open: false, lagMs: 2_500.4, retryAfterMs: 2_500 });
      tick(200 + FLOW_HEARTBEAT_MS - 1, 2_000);
      expect(actor.snapshot()).toEqual({ name: "flow-controller", state: "pause", lagMs: 2_000, pauseAtMs: PAUSE_AT, pauses: 1, pausedMs: FLOW_HEARTBEAT_MS - 1, signals: 2 });

      // A heartbeat after FLOW_HEARTBEAT_MS without a change.
      tick(200 + FLOW_HEARTBEAT_MS, 2_000);
      await expectHeard([sent("open", 0, 0), sent("pause", PAUSE_AT, FLOW_HEARTBEAT_MS), sent("pause", 2_000, 2_000)]);

      // Hysteresis: just above the resume fraction stays paused; at it, open.
      tick(1_300, PAUSE_AT * FLOW_RESUME_LAG_FRACTION + 1);
      expect(actor.admission().open).toBe(false);
      tick(1_400, PAUSE_AT * FLOW_RESUME_LAG_FRACTION);
      expect(actor.admission()).toEqual({ open: true, lagMs: 300, retryAfterMs: 0 });
      await expectHeard([sent("open", 0, 0), sent("pause", PAUSE_AT, FLOW_HEARTBEAT_MS), sent("pause", 2_000, 2_000), sent("open", 300, 0)]);
      expect(actor.snapshot()).toEqual({ name: "flow-controller", state: "open", lagMs: 300, pauseAtMs: PAUSE_AT, pauses: 1, pausedMs: 1_200, signals: 4 });

      // Open again below the bound: quiet. A second pause is counted.
      tick(1_500, PAUSE_AT - 1);
      tick(1_600, 5_000);
      expect(actor.admission()).toEqual({ open: false, lagMs: 5_000, retryAfterMs: FLOW_SIGNAL_TTL_MS });
      expect(actor.snapshot()).toEqual({ name: "flow-controller", state: "pause", lagMs: 5_000, pauseAtMs: PAUSE_AT, pauses: 2, pausedMs: 1_200, signals: 5 });

      // Stopping while paused tells producers "open" rather than leaving them to wait out the ttl.
      await actor.stop();
      expect(actor.admission()).toEqual({ open: true, lagMs: 5_000, retryAfterMs: 0 });
      await expectHeard([
        sent("open", 0, 0),
        sent("pause", PAUSE_AT, FLOW_HEARTBEAT_MS),
        sent("pause", 2_000, 2_000),
        sent("open", 300, 0),
        sent("pause", 5_000, FLOW_SIGNAL_TTL_MS),
        sent("open", 5_000, 0),
      ]);
      expect(log).toEqual([
        "ingest paused: a shard is 1000 ms behind (bound 1000 ms)",
        "ingest open again after 1200 ms (lag 300 ms)",
        "ingest paused: a shard is 5000 ms behind (bound 1000 ms)",
        "ingest open again after 0 ms: the node is stopping",
      ]);
      expect(actor.snapshot()).toMatchObject({ state: "open", pauses: 2, pausedMs: 1_200 });
      expect(heard).toHaveLength(6);
    } finally {
      subscription.unsubscribe();
    }
  });

  test("stop while open says nothing more", async () => {
    const { subscription, expectHeard } = listen(nc);
    const { actor, tick } = controller(nc);
    try {
      tick(0, 10);
      await actor.stop();
      await expectHeard([sent("open", 10, 0)]);
      expect(actor.snapshot().signals).toBe(1);
    } finally {
      subscription.unsubscribe();
    }
  });

  test("on a closed connection it publishes nothing and stop does not throw", async () => {
    const connection = await connect({ servers: nats.url });
    const { actor, tick } = controller(connection);
    tick(0, 0);
    tick(10, PAUSE_AT);
    expect(actor.snapshot().signals).toBe(2);
    await connection.close();
    tick(FLOW_HEARTBEAT_MS * 5, PAUSE_AT);
    expect(actor.admission()).toEqual({ open: false, lagMs: PAUSE_AT, retryAfterMs: FLOW_HEARTBEAT_MS });
    await actor.stop();
    expect(actor.snapshot().signals).toBe(2);
  });
});

describe("FlowGate (injected clock)", () => {
  /** A gate on a clock the test moves. */
  function gateAt(startMs = 0) {
    const clock = { nowMs: startMs };
    return { gate: new FlowGate(() => clock.nowMs), clock };
  }

  test("open at first: wait resolves at once and nothing is counted as a wait", async () => {
    const { gate } = gateAt();
    expect(gate.isOpen).toBe(true);
    await gate.wait();
    expect(gate.stats()).toEqual({ signals: 0, malformed: 0, pauses: 0, waits: 0, waitedMs: 0, pausedNodes: 0 });
  });

  test("a pause from a node holds wait() until that node says open", async () => {
    const { gate, clock } = gateAt(1_000);
    gate.observe(signal({ node: "A" }));
    expect(gate.isOpen).toBe(false);
    const waiting = gate.wait();
    await settle();
    expect(Bun.peek.status(waiting)).toBe("pending");

    clock.nowMs = 1_250;
    gate.observe(signal({ node: "A", state: "open" }));
    expect(gate.isOpen).toBe(true);
    await waiting;
    expect(gate.stats()).toEqual({ signals: 2, malformed: 0, pauses: 1, waits: 1, waitedMs: 250, pausedNodes: 0 });
  });

  test("an open from another node does not lift a pause", async () => {
    const { gate } = gateAt();
    gate.observe(signal({ node: "A" }));
    const waiting = gate.wait();
    gate.observe(signal({ node: "B", state: "open" }));
    await settle();
    expect([gate.isOpen, Bun.peek.status(waiting)]).toEqual([false, "pending"]);
    gate.observe(signal({ node: "A", state: "open" }));
    await waiting;
  });

  test("with two nodes paused it opens only once both lift, whatever the order", async () => {
    const { gate } = gateAt();
    gate.observe(signal({ node: "A" }));
    gate.observe(signal({ node: "B" }));
    const first = gate.wait();
    const second = gate.wait();
    gate.observe(signal({ node: "B", state: "open" }));
    await settle();
    expect([gate.isOpen, Bun.peek.status(first), Bun.peek.status(second)]).toEqual([false, "pending", "pending"]);
    expect(gate.stats().pausedNodes).toBe(1);

    gate.observe(signal({ node: "A", state: "open" }));
    await Promise.all([first, second]);
    expect(gate.stats()).toEqual({ signals: 4, malformed: 0, pauses: 2, waits: 2, waitedMs: 0, pausedNodes: 0 });
  });

  test("a pause holds for its ttl from when it was heard; a repeated pause renews it without counting a new pause", () => {
    const { gate, clock } = gateAt(0);
    gate.observe(signal({ node: "A", ttlMs: 3_000 }));
    clock.nowMs = 2_999;
    expect(gate.isOpen).toBe(false);
    clock.nowMs = 3_000;
    expect(gate.isOpen).toBe(true);

    gate.observe(signal({ node: "A", ttlMs: 3_000 })); // until 6000
    clock.nowMs = 5_000;
    gate.observe(signal({ node: "A", ttlMs: 3_000 })); // renewed: until 8000
    clock.nowMs = 7_999;
    expect(gate.isOpen).toBe(false);
    clock.nowMs = 8_000;
    expect(gate.isOpen).toBe(true);
    expect(gate.stats()).toEqual({ signals: 3, malformed: 0, pauses: 2, waits: 0, waitedMs: 0, pausedNodes: 0 });
  });

  test("a pause with ttl 0 holds for no time at all", () => {
    const { gate } = gateAt(500);
    gate.observe(signal({ ttlMs: 0 }));
    expect(gate.isOpen).toBe(true);
  });

  test(`beyond ${FLOW_GATE_NODES_MAX} distinct paused nodes, pauses from new nodes are ignored; known nodes still renew`, () => {
    const { gate, clock } = gateAt(0);
    for (let index = 0; index < FLOW_GATE_NODES_MAX; index++) gate.observe(signal({ node: `node-${index}`, ttlMs: 1_000 }));
    expect(gate.stats()).toEqual({ signals: FLOW_GATE_NODES_MAX, malformed: 0, pauses: FLOW_GATE_NODES_MAX, waits: 0, waitedMs: 0, pausedNodes: FLOW_GATE_NODES_MAX });

    gate.observe(signal({ node: "one-too-many", ttlMs: 60_000 }));
    gate.observe(signal({ node: "node-7", ttlMs: 60_000 }));
    expect(gate.stats()).toEqual({ signals: FLOW_GATE_NODES_MAX + 2, malformed: 0, pauses: FLOW_GATE_NODES_MAX, waits: 0, waitedMs: 0, pausedNodes: FLOW_GATE_NODES_MAX });

    // Every tracked node lifts its pause except node-7, renewed above.
    for (let index = 0; index < FLOW_GATE_NODES_MAX; index++) if (index !== 7) gate.observe(signal({ node: `node-${index}`, state: "open" }));
    clock.nowMs = 30_000;
    expect([gate.isOpen, gate.stats().pausedNodes]).toEqual([false, 1]);
    gate.observe(signal({ node: "node-7", state: "open" }));
    // The ignored node was never tracked, so nothing holds the gate.
    expect([gate.isOpen, gate.stats().pausedNodes]).toEqual([true, 0]);
  });

  test("expired pauses do not count against the node bound: a new node's pause is honoured once the old ones ran out", () => {
    const { gate, clock } = gateAt(0);
    for (let index = 0; index < FLOW_GATE_NODES_MAX; index++) gate.observe(signal({ node: `node-${index}`, ttlMs: 1_000 }));
    clock.nowMs = 1_000;
    gate.observe(signal({ node: "late-node", ttlMs: 5_000 }));
    expect([gate.isOpen, gate.stats().pausedNodes]).toEqual([false, 1]);
  });

  test("wait(timeoutMs) rejects with FlowWaitTimeout when the pause outlasts it, and a later open finds no stale waiter", async () => {
    const { gate } = gateAt();
    try {
      gate.observe(signal({ node: "A", ttlMs: 60_000 }));
      const error = await gate.wait(20).then(
        () => new Error("expected a rejection"),
        (thrown: unknown) => thrown,
      );
      expect(error).toBeInstanceOf(FlowWaitTimeout);
      expect({ code: (error as FlowWaitTimeout).code, message: (error as Error).message }).toEqual({
        code: "flow_wait_timeout",
        message: "Sluice asked producers to pause for over 20 ms: the node is behind on storing events",
      });
      gate.observe(signal({ node: "A", state: "open" }));
      expect(gate.stats()).toEqual({ signals: 2, malformed: 0, pauses: 1, waits: 1, waitedMs: 0, pausedNodes: 0 });
    } finally {
      gate.close();
    }
  });

  test("wait(timeoutMs) resolves when the pause lifts before the deadline", async () => {
    const { gate } = gateAt();
    gate.observe(signal({ node: "A", ttlMs: 60_000 }));
    const waiting = gate.wait(10_000);
    await settle();
    gate.observe(signal({ node: "A", state: "open" }));
    await waiting;
  });

  test("close lifts every pause and releases waiters", async () => {
    const { gate } = gateAt();
    gate.observe(signal({ node: "A", ttlMs: 60_000 }));
    gate.observe(signal({ node: "B", ttlMs: 60_000 }));
    const waiting = gate.wait();
    gate.close();
    await waiting;
    expect([gate.isOpen, gate.stats().pausedNodes]).toEqual([true, 0]);
  });
});

describe("FlowGate (real clock)", () => {
  test("a pause nobody renews expires after its ttl and releases the waiter", async () => {
    const gate = new FlowGate();
    const startedAt = Date.now();
    gate.observe(signal({ node: "gone", ttlMs: 50 }));
    expect(gate.isOpen).toBe(false);
    await gate.wait();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(50);
    expect(gate.isOpen).toBe(true);
    expect(gate.stats().pausedNodes).toBe(0);
  }, 5_000);

  test("the earlier of two pauses expiring does not release the waiter; the later does", async () => {
    const gate = new FlowGate();
    const startedAt = Date.now();
    gate.observe(signal({ node: "short", ttlMs: 20 }));
    gate.observe(signal({ node: "long", ttlMs: 120 }));
    await gate.wait();
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(120);
  }, 5_000);
});

describe("FlowGate.listen over NATS", () => {
  test("hears pauses and opens on the flow subject, reports malformed signals, and stops hearing once closed", async () => {
    const producer = await connect({ servers: nats.url });
    const malformed: string[] = [];
    const gate = FlowGate.listen(producer, (error) => void malformed.push(error));
    try {
      await producer.flush(); // the subscription is registered on the server
      nc.publish(FLOW_SUBJECT, encodeFlowSignal(signal({ node: "remote", ttlMs: 60_000 })));
      await waitFor(() => !gate.isOpen, { timeoutMs: 5_000, what: "the gate to close on a pause" });

      nc.publish(FLOW_SUBJECT, "garbage");
      nc.publish(FLOW_SUBJECT, wire({ state: "stop" }));
      await waitFor(() => malformed.length === 2, { timeoutMs: 5_000, what: "two malformed reports" });
      expect(malformed).toEqual([expect.stringMatching(/^flow signal is not JSON: ./), "flow state stop is not open or pause"]);
      expect(gate.isOpen).toBe(false);

      const waiting = gate.wait(10_000);
      nc.publish(FLOW_SUBJECT, encodeFlowSignal(signal({ node: "remote", state: "open" })));
      await waiting;
      expect({ ...gate.stats(), waitedMs: 0 }).toEqual({ signals: 2, malformed: 2, pauses: 1, waits: 1, waitedMs: 0, pausedNodes: 0 });

      gate.close();
      // A probe on the same connection shows the next pause was delivered, yet the closed gate did not hear it.
      const probe: string[] = [];
      const probeSubscription = producer.subscribe(FLOW_SUBJECT, { callback: (_error, message) => void probe.push(message.string()) });
      await producer.flush();
      nc.publish(FLOW_SUBJECT, encodeFlowSignal(signal({ node: "remote", ttlMs: 60_000 })));
      await waitFor(() => probe.length === 1, { timeoutMs: 5_000, what: "the probe to hear the pause" });
      probeSubscription.unsubscribe();
      expect([gate.isOpen, gate.stats().signals]).toEqual([true, 2]);
    } finally {
      gate.close();
      await producer.close();
    }
  });
});

describe("IngestGateway while the node is paused", () => {
  const SHARDS = 2;
  let jsm: JetStreamManager;
  beforeAll(async () => {
    jsm = await jetstreamManager(nc);
    await ensureWalStream(jsm, { shards: SHARDS, maxBytes: 64 * 1024 * 1024, replicas: 1, maxMessageBytes: nc.info?.max_payload ?? 1024 * 1024 });
  });

  const walMessages = async () => (await jsm.streams.info(WAL_STREAM)).state.messages;

  function gateway(admission: Admission) {
    const log: string[] = [];
    const instance = new IngestGateway({ js: jetstream(nc), connected: () => true, admission: () => admission, shards: SHARDS, maxPayloadBytes: nc.info?.max_payload ?? 1024 * 1024, log: (line) => void log.push(line) });
    return { instance, log };
  }

  function request(): Request {
    return new Request("http://sluice.test/api/v1/logs", { method: "POST", body: JSON.stringify([{ service: "flow", message: "one" }, { service: "flow", message: "two" }]), headers: { "content-type": "application/json" } });
  }

  test.each<[number, number]>([
    [1_000, 1],
    [1_001, 2],
    [2_500, 3],
    [3_000, 3],
  ])("retryAfterMs %p: 429 ingest_paused with Retry-After %p s, the body unread and nothing published", async (retryMs, retrySeconds) => {
    const before = await walMessages();
    const { instance, log } = gateway({ open: false, lagMs: 1_234.4, retryAfterMs: retryMs });
    const body = request();
    const error = await instance.ingest(body, new URL(body.url), "default").then(
      () => new Error("expected a refusal"),
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(HttpError);
    const refusal = error as HttpError;
    const message = "the node is 1234 ms behind on storing events; retry later";
    expect({ status: refusal.status, code: refusal.code, message: refusal.message, retryAfterSeconds: refusal.retryAfterSeconds, extra: refusal.extra }).toEqual({
      status: 429,
      code: "ingest_paused",
      message,
      retryAfterSeconds: retrySeconds,
      extra: undefined,
    });
    const response = errorResponse(refusal);
    expect({ status: response.status, retryAfter: response.headers.get("retry-after"), body: await response.json() }).toEqual({
      status: 429,
      retryAfter: String(retrySeconds),
      body: { status: "error", error: { code: "ingest_paused", message } },
    });
    expect(body.bodyUsed).toBe(false);
    expect(instance.snapshot()).toEqual({ name: "ingest-gateway", requestsInFlight: 0, bytesInFlight: 0, requests: 1, accepted: 0, rejected: 0, overloaded: 0, paused: 1, unavailable: 0 });
    expect(log).toEqual([]);
    await nc.flush();
    expect(await walMessages()).toBe(before);
  });

  test(`paused but under ${INGEST_HTTP_PAUSE_LAG_MIN_MS} ms behind, HTTP ingest is still accepted (only NATS producers wait)`, async () => {
    const before = await walMessages();
    const { instance } = gateway({ open: false, lagMs: INGEST_HTTP_PAUSE_LAG_MIN_MS - 1, retryAfterMs: 1_000 });
    const body = request();
    const response = await instance.ingest(body, new URL(body.url), "default");
    expect(response.status).toBe(202);
    expect(await walMessages()).toBe(before + 1);
  });

  test("once admission is open the same request is published and acknowledged", async () => {
    const before = await walMessages();
    const { instance } = gateway({ open: true, lagMs: 10, retryAfterMs: 0 });
    const body = request();
    const response = await instance.ingest(body, new URL(body.url), "default");
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 202, body: { status: "success", message: "Log received", accepted: 2, rejected: [] } });
    expect(await walMessages()).toBe(before + 1);
    expect(instance.snapshot()).toEqual({ name: "ingest-gateway", requestsInFlight: 0, bytesInFlight: 0, requests: 1, accepted: 2, rejected: 0, overloaded: 0, paused: 0, unavailable: 0 });
  });
});
