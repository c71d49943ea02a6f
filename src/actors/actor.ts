// The actor contract: private state, one message at a time from a bounded mailbox,
// and a closed set of ways to exit that supervisors count.

import type { Mailbox } from "./mailbox.ts";

/** Why an actor's run ended (Quickwit's closed set). */
export type ExitReason = "success" | "quit" | "downstream-closed" | "killed" | "failure" | "crashed";

export const EXIT_REASONS: readonly ExitReason[] = ["success", "quit", "downstream-closed", "killed", "failure", "crashed"];

export interface ActorContext<M> {
  readonly name: string;
  readonly mailbox: Mailbox<M>;
  /** Sends to this actor's own mailbox (for completions of work it started). */
  self(message: M): void;
  /** Ends the actor with a failure, for errors raised outside handle (timers, spawned tasks). */
  fail(cause: unknown): void;
}

export interface Actor<M> {
  readonly name: string;
  /** Acquires resources; called on first start and on every restart. */
  start?(context: ActorContext<M>): Promise<void>;
  /** Handles one message. Throwing makes the supervisor restart the actor (keeping its mailbox). */
  handle(message: M, context: ActorContext<M>): Promise<void> | void;
  /** Releases resources; called on stop and before a restart. Must not throw for a second call. */
  stop?(reason: ExitReason): Promise<void>;
  /** An observable state for health endpoints, logctl status and tests. */
  snapshot(): Record<string, unknown>;
}

/**
 * A timer that sends `message` to the actor every `ms` while its mailbox is empty (and
 * `skip` says no): ticks never pile up behind real work. The caller clears it in stop.
 */
export function tickWhenIdle<M>(context: ActorContext<M>, ms: number, message: NoInfer<M>, skip?: () => boolean): ReturnType<typeof setInterval> {
  return setInterval(() => {
    if (context.mailbox.size === 0 && !skip?.()) context.self(message);
  }, ms);
}

/** A broken invariant is a bug: assert and let the supervisor restart the actor. */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}

export class AssertionError extends Error {
  readonly code = "assertion";
}
