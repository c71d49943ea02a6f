// Goal: the Supervisor restarts a failing actor (a throw in handle, or ctx.fail from a
// timer) while keeping its mailbox, so no message sent before or during the restart is
// lost; it escalates once failures exceed the policy's window; stopAll drains each
// mailbox before stopping, in reverse spawn order (or all at once); and snapshot()
// reports each child's state, mailbox and restart counts; actors with full mailboxes
// yield to the event loop every ACTOR_YIELD_AFTER_MS instead of draining them first.
// Method: a toy actor that records every start, message and stop in a shared journal;
// gates (promises the test resolves) hold the actor in start, handle or stop so the
// test observes a state deterministically; a RestartPolicy with 1-4 ms backoff; every
// wait is waitFor on a condition with a deadline.

import { afterEach, describe, expect, test } from "bun:test";
import type { Actor, ActorContext, ExitReason } from "../src/actors/actor.ts";
import { ACTOR_YIELD_AFTER_MS, Supervisor, type ActorRef, type RestartPolicy } from "../src/actors/supervisor.ts";
import { waitFor } from "./helpers/wait.ts";

type ToyMessage = { type: "work"; id: string } | { type: "boom"; id: string } | { type: "arm-timer-failure" };

const FAST_POLICY: RestartPolicy = { backoffMinMs: 1, backoffMaxMs: 4, maxFailuresInWindow: 100, windowMs: 60_000 };
const WAIT = { timeoutMs: 5_000, intervalMs: 2 };

interface Gate {
  promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

class ToyActor implements Actor<ToyMessage> {
  starts = 0;
  handled: string[] = [];
  stops: ExitReason[] = [];
  context?: ActorContext<ToyMessage>;
  /** When set, the start with this number (1-based) waits on the gate. */
  startGate?: { startNumber: number; gate: Gate };
  /** When set, handle waits on it before recording a work message. */
  handleGate?: Gate;
  /** When set, stop waits on it after recording the call. */
  stopGate?: Gate;

  constructor(
    readonly name: string,
    private readonly journal: string[] = [],
  ) {}

  async start(context: ActorContext<ToyMessage>): Promise<void> {
    this.starts++;
    this.context = context;
    this.journal.push(`${this.name}:start`);
    if (this.startGate && this.startGate.startNumber === this.starts) await this.startGate.gate.promise;
  }

  async handle(message: ToyMessage, context: ActorContext<ToyMessage>): Promise<void> {
    if (message.type === "boom") throw new Error(`boom ${message.id}`);
    if (message.type === "arm-timer-failure") {
      // An error raised outside handle, as a timer or a spawned task would.
      setTimeout(() => context.fail(new Error("timer failed")), 0);
      return;
    }
    if (this.handleGate) await this.handleGate.promise;
    this.handled.push(message.id);
    this.journal.push(`${this.name}:handle:${message.id}`);
  }

  async stop(reason: ExitReason): Promise<void> {
    this.stops.push(reason);
    this.journal.push(`${this.name}:stop:${reason}`);
    if (this.stopGate) await this.stopGate.promise;
    this.journal.push(`${this.name}:stopped`);
  }

  snapshot(): Record<string, unknown> {
    return { handled: this.handled.length };
  }
}

function work(id: string): ToyMessage {
  return { type: "work", id };
}

function boom(id: string): ToyMessage {
  return { type: "boom", id };
}

const NO_RESTARTS = { success: 0, quit: 0, "downstream-closed": 0, killed: 0, failure: 0, crashed: 0 };

// Every test's supervisor is stopped even when an assertion fails midway.
const supervisors: Supervisor[] = [];
function newSupervisor(options: { onEscalate?: (name: string, cause: unknown) => void } = {}): { supervisor: Supervisor; logs: string[] } {
  const logs: string[] = [];
  const supervisor = new Supervisor({ name: "test", log: (line) => logs.push(line), ...options });
  supervisors.push(supervisor);
  return { supervisor, logs };
}

afterEach(async () => {
  for (const supervisor of supervisors.splice(0)) await supervisor.stopAll("killed", { concurrently: true });
});

function childSnapshot(supervisor: Supervisor, name: string): Record<string, unknown> {
  const found = supervisor.snapshot().find((child) => child.name === name);
  if (!found) throw new Error(`no child ${name}`);
  return found;
}

describe("restart on failure", () => {
  test("a throw in handle restarts the actor: start again, stop('failure') first, failure counted, lastError set", async () => {
    const { supervisor, logs } = newSupervisor();
    const actor = new ToyActor("toy");
    const ref = await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, FAST_POLICY);
    expect(ref.tell(boom("1"))).toBe(true);
    await waitFor(() => actor.starts === 2 && childSnapshot(supervisor, "toy").state === "running", { ...WAIT, what: "restart" });
    expect(actor.stops).toEqual(["failure"]);
    expect(childSnapshot(supervisor, "toy")).toEqual({
      name: "toy",
      state: "running",
      mailbox: { size: 0, capacity: 8, policy: "reject", rejected: 0, dropped: 0 },
      restarts: { ...NO_RESTARTS, failure: 1 },
      lastError: "boom 1",
      handled: 0,
    });
    expect(logs).toEqual(["[test] toy failed: boom 1; restarting"]);
  });

  test("the mailbox survives the restart: messages sent before and during it are all handled, in order", async () => {
    const { supervisor } = newSupervisor();
    const journal: string[] = [];
    const actor = new ToyActor("toy", journal);
    const restartGate = gate();
    actor.startGate = { startNumber: 2, gate: restartGate };
    const ref = await supervisor.spawn(actor, { capacity: 16, policy: "reject" }, FAST_POLICY);

    for (const message of [work("a"), boom("x"), work("b"), work("c")]) expect(ref.tell(message)).toBe(true);
    // The restart's start is held at the gate: the actor is mid-restart.
    await waitFor(() => actor.starts === 2, { ...WAIT, what: "second start" });
    expect(childSnapshot(supervisor, "toy").state).toBe("starting");
    for (const message of [work("d"), work("e")]) expect(ref.tell(message)).toBe(true);
    await ref.send(work("f"));
    expect(actor.handled).toEqual(["a"]);
    expect(ref.mailbox.size).toBe(5);

    restartGate.open();
    await waitFor(() => actor.handled.length === 6, { ...WAIT, what: "all messages handled" });
    expect(actor.handled).toEqual(["a", "b", "c", "d", "e", "f"]);
    expect(journal).toEqual(["toy:start", "toy:handle:a", "toy:stop:failure", "toy:stopped", "toy:start", "toy:handle:b", "toy:handle:c", "toy:handle:d", "toy:handle:e", "toy:handle:f"]);
    expect(childSnapshot(supervisor, "toy").restarts).toEqual({ ...NO_RESTARTS, failure: 1 });
  });

  test("ctx.fail() from a timer restarts the actor too, and later messages still arrive", async () => {
    const { supervisor } = newSupervisor();
    const actor = new ToyActor("toy");
    const ref = await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, FAST_POLICY);
    ref.tell({ type: "arm-timer-failure" });
    await waitFor(() => actor.starts === 2 && childSnapshot(supervisor, "toy").state === "running", { ...WAIT, what: "restart after ctx.fail" });
    expect(actor.stops).toEqual(["failure"]);
    expect(childSnapshot(supervisor, "toy")).toMatchObject({ restarts: { ...NO_RESTARTS, failure: 1 }, lastError: "timer failed" });
    ref.tell(work("after"));
    await waitFor(() => actor.handled.length === 1, { ...WAIT, what: "message after restart" });
    expect(actor.handled).toEqual(["after"]);
  });

  test("a start that fails during restart is retried and counted as a failure", async () => {
    const { supervisor } = newSupervisor();
    const actor = new ToyActor("toy");
    const original = actor.start.bind(actor);
    let failNextStarts = 0;
    actor.start = async (context) => {
      await original(context);
      if (failNextStarts > 0) {
        failNextStarts--;
        throw new Error("cannot open");
      }
    };
    const ref = await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, FAST_POLICY);
    failNextStarts = 2;
    ref.tell(boom("1"));
    ref.tell(work("a"));
    await waitFor(() => actor.handled.length === 1, { ...WAIT, what: "message after retried start" });
    expect({ starts: actor.starts, stops: actor.stops, handled: actor.handled }).toEqual({ starts: 4, stops: ["failure", "failure", "failure"], handled: ["a"] });
    expect(childSnapshot(supervisor, "toy")).toMatchObject({ state: "running", restarts: { ...NO_RESTARTS, failure: 3 }, lastError: "cannot open" });
  });

  test("a failing first start makes spawn throw and leaves no child", async () => {
    const { supervisor } = newSupervisor();
    const actor = new ToyActor("toy");
    actor.start = async () => {
      throw new Error("no disk");
    };
    await expect(supervisor.spawn(actor, { capacity: 1, policy: "reject" }, FAST_POLICY)).rejects.toThrow("no disk");
    expect(supervisor.snapshot()).toEqual([]);
  });
});

describe("escalation", () => {
  test("onEscalate fires once failures exceed maxFailuresInWindow, and the actor is not restarted again", async () => {
    const escalations: { name: string; cause: string }[] = [];
    const { supervisor } = newSupervisor({ onEscalate: (name, cause) => escalations.push({ name, cause: (cause as Error).message }) });
    const actor = new ToyActor("flaky");
    const ref = await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, { ...FAST_POLICY, maxFailuresInWindow: 2 });

    ref.tell(boom("1"));
    ref.tell(boom("2"));
    await waitFor(() => actor.starts === 3 && childSnapshot(supervisor, "flaky").state === "running", { ...WAIT, what: "two restarts" });
    expect(escalations).toEqual([]);

    ref.tell(boom("3"));
    await waitFor(() => escalations.length === 1, { ...WAIT, what: "escalation" });
    expect(escalations).toEqual([{ name: "flaky", cause: "boom 3" }]);
    expect(actor.starts).toBe(3);
    expect(childSnapshot(supervisor, "flaky")).toMatchObject({ restarts: { ...NO_RESTARTS, failure: 3 }, lastError: "boom 3" });
  });

  test("failures older than windowMs do not count toward escalation", async () => {
    const escalations: string[] = [];
    const { supervisor } = newSupervisor({ onEscalate: (name) => escalations.push(name) });
    const actor = new ToyActor("slow-flaky");
    // A 1 ms window: each failure is alone in it, since every restart waits out a 5 ms backoff first.
    const ref = await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, { backoffMinMs: 5, backoffMaxMs: 5, maxFailuresInWindow: 1, windowMs: 1 });
    for (const id of ["1", "2", "3"]) {
      const startsBefore = actor.starts;
      ref.tell(boom(id));
      await waitFor(() => actor.starts === startsBefore + 1 && childSnapshot(supervisor, "slow-flaky").state === "running", { ...WAIT, what: `restart ${id}` });
    }
    expect(escalations).toEqual([]);
    expect(childSnapshot(supervisor, "slow-flaky")).toMatchObject({ restarts: { ...NO_RESTARTS, failure: 3 } });
  });
});

describe("stopAll", () => {
  test("stops children in reverse spawn order, one after another, each after draining its mailbox", async () => {
    const { supervisor } = newSupervisor();
    const journal: string[] = [];
    const actors = ["A", "B", "C"].map((name) => new ToyActor(name, journal));
    const refs: ActorRef<ToyMessage>[] = [];
    for (const actor of actors) refs.push(await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, FAST_POLICY));
    // Hold every actor in its first handle so the rest of its messages queue up.
    const handleGate = gate();
    for (const actor of actors) actor.handleGate = handleGate;
    for (const ref of refs) for (const id of ["1", "2", "3"]) expect(ref.tell(work(id))).toBe(true);
    expect(refs.map((ref) => ref.mailbox.size)).toEqual([2, 2, 2]);

    const stopped = supervisor.stopAll();
    handleGate.open();
    await stopped;

    const stopEvents = journal.filter((entry) => entry.includes(":stop"));
    expect(stopEvents).toEqual(["C:stop:quit", "C:stopped", "B:stop:quit", "B:stopped", "A:stop:quit", "A:stopped"]);
    for (const name of ["A", "B", "C"]) {
      const own = journal.filter((entry) => entry.startsWith(`${name}:`));
      expect(own).toEqual([`${name}:start`, `${name}:handle:1`, `${name}:handle:2`, `${name}:handle:3`, `${name}:stop:quit`, `${name}:stopped`]);
    }
    expect(supervisor.snapshot().map((child) => ({ name: child.name, state: child.state, mailbox: (child.mailbox as { size: number }).size }))).toEqual([
      { name: "A", state: "stopped", mailbox: 0 },
      { name: "B", state: "stopped", mailbox: 0 },
      { name: "C", state: "stopped", mailbox: 0 },
    ]);
  });

  test("sequential stopAll does not start the next stop before the previous one finished", async () => {
    const { supervisor } = newSupervisor();
    const journal: string[] = [];
    const first = new ToyActor("first", journal);
    const second = new ToyActor("second", journal);
    await supervisor.spawn(first, { capacity: 1, policy: "reject" }, FAST_POLICY);
    await supervisor.spawn(second, { capacity: 1, policy: "reject" }, FAST_POLICY);
    const stopGate = gate();
    second.stopGate = stopGate;
    const stopped = supervisor.stopAll("quit");
    await waitFor(() => second.stops.length === 1, { ...WAIT, what: "second's stop" });
    // The event loop gets turns while second's stop is held; first must not be stopped meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    expect(first.stops).toEqual([]);
    stopGate.open();
    await stopped;
    expect(journal.filter((entry) => entry.includes(":stop"))).toEqual(["second:stop:quit", "second:stopped", "first:stop:quit", "first:stopped"]);
  });

  test("stopAll({ concurrently: true }) stops every child at once with the given reason", async () => {
    const { supervisor } = newSupervisor();
    const journal: string[] = [];
    const actors = ["A", "B", "C"].map((name) => new ToyActor(name, journal));
    const stopGate = gate();
    for (const actor of actors) {
      actor.stopGate = stopGate;
      const ref = await supervisor.spawn(actor, { capacity: 4, policy: "reject" }, FAST_POLICY);
      ref.tell(work("1"));
    }
    const stopped = supervisor.stopAll("downstream-closed", { concurrently: true });
    // All three stops are entered while every one of them is still held: they overlap.
    await waitFor(() => actors.every((actor) => actor.stops.length === 1), { ...WAIT, what: "all stops entered" });
    expect(journal.filter((entry) => entry.endsWith(":stopped"))).toEqual([]);
    stopGate.open();
    await stopped;
    expect(actors.map((actor) => ({ name: actor.name, handled: actor.handled, stops: actor.stops }))).toEqual([
      { name: "A", handled: ["1"], stops: ["downstream-closed"] },
      { name: "B", handled: ["1"], stops: ["downstream-closed"] },
      { name: "C", handled: ["1"], stops: ["downstream-closed"] },
    ]);
    expect(supervisor.snapshot().map((child) => child.state)).toEqual(["stopped", "stopped", "stopped"]);
  });

  test("a second stopAll does not stop a child twice", async () => {
    const { supervisor } = newSupervisor();
    const actor = new ToyActor("toy");
    await supervisor.spawn(actor, { capacity: 1, policy: "reject" }, FAST_POLICY);
    await supervisor.stopAll();
    await supervisor.stopAll("killed");
    expect(actor.stops).toEqual(["quit"]);
  });

  test("after stopAll the actor's mailbox refuses messages", async () => {
    const { supervisor } = newSupervisor();
    const actor = new ToyActor("toy");
    const ref = await supervisor.spawn(actor, { capacity: 1, policy: "reject" }, FAST_POLICY);
    await supervisor.stopAll();
    expect(() => ref.tell(work("late"))).toThrow("mailbox toy is closed");
  });

  // stopAll once gave up on a child in backoff, so the messages queued behind the failure were lost.
  test("stopAll during a restart backoff still drains the mailbox before stop", async () => {
    const { supervisor } = newSupervisor();
    const actor = new ToyActor("toy");
    const ref = await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, { ...FAST_POLICY, backoffMinMs: 200, backoffMaxMs: 200 });
    for (const message of [boom("1"), work("a"), work("b")]) ref.tell(message);
    await waitFor(() => childSnapshot(supervisor, "toy").state === "backoff", { ...WAIT, intervalMs: 1, what: "backoff" });
    await supervisor.stopAll();
    expect({ handled: actor.handled, stops: actor.stops }).toEqual({ handled: ["a", "b"], stops: ["failure", "quit"] });
  });

  // A message put back on a mailbox the close had just shut once made stopAll reject.
  test("stopAll during a restart backoff does not wait out further backoffs when the actor cannot start again", async () => {
    const { supervisor } = newSupervisor();
    const actor = new ToyActor("toy");
    const original = actor.start.bind(actor);
    let failStarts = false;
    actor.start = async (context) => {
      await original(context);
      if (failStarts) throw new Error("cannot open");
    };
    // A backoff far longer than the test's timeout: stopAll must not wait it out.
    const ref = await supervisor.spawn(actor, { capacity: 8, policy: "reject" }, { ...FAST_POLICY, backoffMinMs: 600_000, backoffMaxMs: 600_000 });
    failStarts = true;
    ref.tell(boom("1"));
    await waitFor(() => childSnapshot(supervisor, "toy").state === "backoff", { ...WAIT, intervalMs: 1, what: "backoff" });
    await supervisor.stopAll();
    expect({ starts: actor.starts, state: childSnapshot(supervisor, "toy").state }).toEqual({ starts: 2, state: "stopped" });
  });

  test("stopAll resolves and stops the actor when a failure and the close race a delivered message", async () => {
    // Not registered for afterEach: while the bug is present a second stopAll rejects too.
    const supervisor = new Supervisor({ name: "test", log: () => undefined });
    const actor = new ToyActor("toy");
    const ref = await supervisor.spawn(actor, { capacity: 4, policy: "reject" }, FAST_POLICY);
    // Let the run loop reach its first take(), so the next tell goes straight to it.
    await new Promise((resolve) => setImmediate(resolve));
    ref.tell(work("in-flight"));
    actor.context!.fail(new Error("timer failed"));
    await supervisor.stopAll();
    expect({ stops: actor.stops, state: childSnapshot(supervisor, "toy").state }).toEqual({ stops: ["quit"], state: "stopped" });
  });
});

describe("snapshot", () => {
  test("reports state, mailbox counters, restarts, lastError and the actor's own snapshot", async () => {
    const { supervisor } = newSupervisor();
    const busy = new ToyActor("busy");
    const idle = new ToyActor("idle");
    const handleGate = gate();
    busy.handleGate = handleGate;
    const busyRef = await supervisor.spawn(busy, { capacity: 2, policy: "reject" }, FAST_POLICY);
    await supervisor.spawn(idle, { capacity: 5, policy: "drop-oldest" }, FAST_POLICY);
    // The first message is taken and held in handle; two more fill the mailbox; a fourth is rejected.
    expect(["1", "2", "3", "4"].map((id) => busyRef.tell(work(id)))).toEqual([true, true, true, false]);
    expect(supervisor.snapshot()).toEqual([
      {
        name: "busy",
        state: "running",
        mailbox: { size: 2, capacity: 2, policy: "reject", rejected: 1, dropped: 0 },
        restarts: NO_RESTARTS,
        lastError: undefined,
        handled: 0,
      },
      {
        name: "idle",
        state: "running",
        mailbox: { size: 0, capacity: 5, policy: "drop-oldest", rejected: 0, dropped: 0 },
        restarts: NO_RESTARTS,
        lastError: undefined,
        handled: 0,
      },
    ]);
    handleGate.open();
    await waitFor(() => busy.handled.length === 3, { ...WAIT, what: "busy drained" });
    expect(childSnapshot(supervisor, "busy")).toEqual({
      name: "busy",
      state: "running",
      mailbox: { size: 0, capacity: 2, policy: "reject", rejected: 1, dropped: 0 },
      restarts: NO_RESTARTS,
      lastError: undefined,
      handled: 3,
    });
  });

  test("snapshot restarts is a copy, not the supervisor's live counter", async () => {
    const { supervisor } = newSupervisor();
    await supervisor.spawn(new ToyActor("toy"), { capacity: 1, policy: "reject" }, FAST_POLICY);
    const restarts = childSnapshot(supervisor, "toy").restarts as Record<string, number>;
    restarts.failure = 99;
    expect(childSnapshot(supervisor, "toy").restarts).toEqual(NO_RESTARTS);
  });
});

describe("yielding to the event loop", () => {
  /** Spends `ms` of CPU in handle, as a WAL message's rows do. */
  class BusyActor implements Actor<{ type: "work" }> {
    handled = 0;
    constructor(
      readonly name: string,
      private readonly ms: number,
    ) {}
    async start(): Promise<void> {}
    handle(): void {
      const until = performance.now() + this.ms;
      while (performance.now() < until) {
        // busy: a synchronous handle, as the partition actor's ingest is
      }
      this.handled++;
    }
    async stop(): Promise<void> {}
    snapshot(): Record<string, unknown> {
      return { handled: this.handled };
    }
  }

  test(`actors with full mailboxes give the event loop a turn about every ${ACTOR_YIELD_AFTER_MS} ms instead of draining them first`, async () => {
    const { supervisor } = newSupervisor();
    const actors = [new BusyActor("busy-a", 2), new BusyActor("busy-b", 2)];
    const refs: ActorRef<{ type: "work" }>[] = [];
    for (const actor of actors) refs.push(await supervisor.spawn(actor, { capacity: 64, policy: "reject" }, FAST_POLICY));
    // Filled in one synchronous step: each actor then finds its next message ready (a resolved take) every time.
    for (const ref of refs) for (let index = 0; index < 50; index++) expect(ref.tell({ type: "work" })).toBe(true);
    const handledWhenTimerRan = await new Promise<number>((resolve) => setTimeout(() => resolve(actors[0].handled + actors[1].handled), 0));
    // 100 messages of 2 ms: without the yield the timer waited for all of them.
    expect(handledWhenTimerRan).toBeLessThan(20);
    await waitFor(() => actors.every((actor) => actor.handled === 50), WAIT);
  });
});
