// Supervision: runs actors on their mailboxes, restarts a failed actor with
// exponential backoff (the mailbox survives, so senders never notice), counts
// restarts per reason, and stops children in reverse start order.

import type { Actor, ActorContext, ExitReason } from "./actor.ts";
import { Mailbox, type MailboxOptions } from "./mailbox.ts";

export interface RestartPolicy {
  backoffMinMs: number;
  backoffMaxMs: number;
  /** More failures than this within windowMs escalates (the supervisor's onEscalate). */
  maxFailuresInWindow: number;
  windowMs: number;
}

/**
 * Longest the actors may run on the event loop's microtask queue before they yield to
 * it. A mailbox holding messages hands them over at once (a resolved promise), so
 * without a yield 16 partitions with full mailboxes ran WAL messages back to back for
 * 150-200 ms while socket reads, DuckDB completions and HTTP requests waited: every
 * query under ingest paid for it at each of its hops. Shared by all actors: once it is
 * spent, each yields after its current message, so the loop gets a turn.
 */
export const ACTOR_YIELD_AFTER_MS = 5;
/** When the event loop last gave the actors a fresh turn (a yield resumed). */
let turnStartedAtMs = performance.now();

/** Resolves on the event loop's next turn, after pending I/O callbacks. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = Object.freeze({
  backoffMinMs: 100,
  backoffMaxMs: 10_000,
  maxFailuresInWindow: 20,
  windowMs: 60_000,
});

export interface ActorRef<M> {
  readonly name: string;
  readonly mailbox: Mailbox<M>;
  /** Offers a data message; false when the mailbox rejected it (caller answers 429/503). */
  tell(message: M): boolean;
  /** Waits for room when the mailbox blocks; throws MailboxFullError when it rejects. */
  send(message: M): Promise<void>;
  control(message: M): void;
}

interface Child<M> {
  actor: Actor<M>;
  mailbox: Mailbox<M>;
  policy: RestartPolicy;
  restarts: Record<ExitReason, number>;
  failureTimes: number[];
  lastError?: string;
  running: Promise<void>;
  state: "starting" | "running" | "backoff" | "stopping" | "stopped";
  stopRequested: boolean;
  failTask?: (cause: unknown) => void;
  wakeFromBackoff?: () => void;
}

export interface SupervisorOptions {
  name: string;
  log?: (line: string) => void;
  /** Called when a child fails more often than its policy allows; the node decides (usually: shut down). */
  onEscalate?: (actorName: string, cause: unknown) => void;
}

export class Supervisor {
  private readonly children: Child<any>[] = [];
  private readonly log: (line: string) => void;

  constructor(private readonly options: SupervisorOptions) {
    this.log = options.log ?? ((line) => console.error(line));
  }

  /** Starts an actor and returns once its first start succeeded (a failing first start throws). */
  async spawn<M>(actor: Actor<M>, mailboxOptions: Omit<MailboxOptions, "name">, policy: RestartPolicy = DEFAULT_RESTART_POLICY): Promise<ActorRef<M>> {
    const mailbox = new Mailbox<M>({ name: actor.name, ...mailboxOptions });
    const child: Child<M> = {
      actor,
      mailbox,
      policy,
      restarts: { success: 0, quit: 0, "downstream-closed": 0, killed: 0, failure: 0, crashed: 0 },
      failureTimes: [],
      running: Promise.resolve(),
      state: "starting",
      stopRequested: false,
    };
    await actor.start?.(this.contextFor(child));
    child.state = "running";
    this.children.push(child);
    child.running = this.runLoop(child);
    return {
      name: actor.name,
      mailbox,
      tell: (message) => mailbox.offer(message),
      send: (message) => mailbox.put(message),
      control: (message) => mailbox.putControl(message),
    };
  }

  /** Children not running, by name: what readiness needs, without every actor's full snapshot. */
  notRunning(): { name: string; state: string }[] {
    return this.children.filter((child) => child.state !== "running").map((child) => ({ name: child.actor.name, state: child.state }));
  }

  /** Observable state of every child, for health and status. */
  snapshot(): Record<string, unknown>[] {
    // The actor's own fields first: the supervisor's state must win (the flow controller reports a `state` of its own).
    return this.children.map((child) => ({
      ...child.actor.snapshot(),
      name: child.actor.name,
      state: child.state,
      mailbox: { size: child.mailbox.size, capacity: child.mailbox.options.capacity, policy: child.mailbox.options.policy, rejected: child.mailbox.rejected, dropped: child.mailbox.dropped },
      restarts: { ...child.restarts },
      lastError: child.lastError,
    }));
  }

  /**
   * Stops children in reverse start order: close the mailbox, let it drain, then stop.
   * With `concurrently`, all at once (siblings that do not depend on each other).
   */
  async stopAll(reason: ExitReason = "quit", options: { concurrently?: boolean } = {}): Promise<void> {
    const children = [...this.children].reverse();
    if (options.concurrently) await Promise.all(children.map((child) => this.stopChild(child, reason)));
    else for (const child of children) await this.stopChild(child, reason);
  }

  /** Stops one child (as stopAll does) and forgets it; false when no child has that name. */
  async stop(name: string, reason: ExitReason = "quit"): Promise<boolean> {
    const child = this.children.find((candidate) => candidate.actor.name === name);
    if (!child) return false;
    await this.stopChild(child, reason);
    const index = this.children.indexOf(child);
    if (index >= 0) this.children.splice(index, 1);
    return true;
  }

  private async stopChild(child: Child<any>, reason: ExitReason): Promise<void> {
    if (child.state === "stopped") return;
    child.stopRequested = true;
    child.state = "stopping";
    child.mailbox.close();
    child.wakeFromBackoff?.();
    await child.running;
    try {
      await child.actor.stop?.(reason);
    } catch (error) {
      this.log(`[${this.options.name}] ${child.actor.name} failed to stop: ${describe(error)}`);
    }
    child.state = "stopped";
  }

  private contextFor<M>(child: Child<M>): ActorContext<M> {
    return {
      name: child.actor.name,
      mailbox: child.mailbox,
      self: (message) => {
        if (!child.mailbox.isClosed) child.mailbox.putControl(message);
      },
      fail: (cause) => child.failTask?.(cause),
    };
  }

  private async runLoop<M>(child: Child<M>): Promise<void> {
    for (;;) {
      const cause = await this.processMessages(child);
      if (cause === undefined || child.stopRequested) return;
      child.restarts.failure++;
      child.lastError = describe(cause);
      this.log(`[${this.options.name}] ${child.actor.name} failed: ${child.lastError}; restarting`);
      const now = Date.now();
      child.failureTimes = child.failureTimes.filter((at) => now - at < child.policy.windowMs);
      child.failureTimes.push(now);
      if (child.failureTimes.length > child.policy.maxFailuresInWindow) {
        this.options.onEscalate?.(child.actor.name, cause);
        return;
      }
      if (!(await this.restart(child))) return;
    }
  }

  /** Runs handle on each message until the mailbox closes (undefined) or a failure (the cause). */
  private async processMessages<M>(child: Child<M>): Promise<unknown> {
    const context = this.contextFor(child);
    let failed: { cause: unknown } | undefined;
    child.failTask = (cause) => {
      failed ??= { cause };
      child.mailbox.interrupt();
    };
    for (;;) {
      if (failed) return failed.cause;
      const next = await child.mailbox.take();
      if (failed) {
        // A message taken in the same turn as the failure goes back first in line.
        if (next !== undefined) child.mailbox.requeueFront(next);
        return (failed as { cause: unknown }).cause;
      }
      if (next === undefined) {
        if (child.mailbox.isClosed) return undefined;
        continue;
      }
      try {
        await child.actor.handle(next, context);
      } catch (error) {
        return error;
      }
      if (performance.now() - turnStartedAtMs >= ACTOR_YIELD_AFTER_MS) {
        await nextTurn();
        turnStartedAtMs = performance.now();
      }
    }
  }

  private async restart<M>(child: Child<M>): Promise<boolean> {
    let attempt = 0;
    for (;;) {
      try {
        await child.actor.stop?.("failure");
      } catch (error) {
        this.log(`[${this.options.name}] ${child.actor.name} stop before restart failed: ${describe(error)}`);
      }
      child.state = "backoff";
      const delayMs = Math.min(child.policy.backoffMaxMs, child.policy.backoffMinMs * 2 ** Math.min(attempt + child.failureTimes.length - 1, 16));
      // A stop during the backoff ends the wait: the actor restarts at once so what is
      // queued behind the failure still drains before it stops.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs);
        child.wakeFromBackoff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      child.wakeFromBackoff = undefined;
      try {
        child.state = "starting";
        await child.actor.start?.(this.contextFor(child));
        child.state = "running";
        return true;
      } catch (error) {
        attempt++;
        child.restarts.failure++;
        child.lastError = describe(error);
        this.log(`[${this.options.name}] ${child.actor.name} restart failed: ${child.lastError}`);
        // A stop woke the backoff to drain the mailbox; if the actor cannot even start, stop waiting for it.
        if (child.stopRequested) return false;
      }
    }
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) return error.cause ? `${error.message} (cause: ${describe(error.cause)})` : error.message;
  return String(error);
}
