// Waiting JetStream out. Right after a NATS server (re)starts, or while a clustered
// stream elects a leader, JetStream requests time out or find no responder for a few
// seconds; a node start, a partition start and a manifest write then retry, bounded,
// instead of failing with "timeout".

import { describe } from "../actors/supervisor.ts";

/** How long one step keeps retrying JetStream requests that fail as a cluster does while it elects. */
export const JETSTREAM_ELECTION_WAIT_MS = 30_000;
/** Pause between two tries. */
const RETRY_PAUSE_MS = 500;
/** At most one "still waiting" line per this long. */
const WAIT_LOG_INTERVAL_MS = 5_000;

/** Failures that end once the servers have elected their leaders (not a refusal or a bad configuration). */
export function isTransientJetStreamError(error: unknown): boolean {
  return /timeout|timed out|no responders|jetstream (is )?not enabled|temporarily unavailable|no suitable peers|leader/i.test(describe(error));
}

/** Runs `attempt` until it succeeds, retrying transient failures for at most `waitMs`. */
export async function untilJetStreamAnswers<T>(what: string, attempt: () => Promise<T>, log: (line: string) => void, waitMs = JETSTREAM_ELECTION_WAIT_MS): Promise<T> {
  const startedAt = performance.now();
  let loggedAt = -Infinity;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      const waited = performance.now() - startedAt;
      if (!isTransientJetStreamError(error) || waited + RETRY_PAUSE_MS > waitMs) throw error;
      if (waited - loggedAt >= WAIT_LOG_INTERVAL_MS) {
        loggedAt = waited;
        log(`waiting for JetStream (${what}, ${Math.round(waited / 1000)} s of ${waitMs / 1000} s): ${describe(error)}`);
      }
      await new Promise((resolve) => setTimeout(resolve, RETRY_PAUSE_MS));
    }
  }
}
