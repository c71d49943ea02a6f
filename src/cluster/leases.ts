// Shard leases in JetStream KV, judged without trusting clocks across machines.
//
// A lease is one KV key per shard; its holder renews it by compare-and-swap on the
// revision, which changes the revision. Other nodes never compare timestamps written
// by someone else: each one notes, on its own monotonic clock, when it first saw the
// current revision, and calls the lease lapsed once that revision has stood for
// LEASE_TTL_MS of its own uninterrupted watching (a stretch where its reads failed, such
// as a leader election, restarts the count: holders could not renew then either, and
// every lease would otherwise look lapsed the moment the election ends). The holder itself trusts its lease only for
// LEASE_SELF_TRUST_MS after it sent its last successful renewal, well inside what any
// observer allows, so by the time a peer may take the shard over the old holder has
// already stopped serving it. A holder that could not renew keeps its partition idle
// and serves again once a renewal finds the lease unchanged (nobody else could have
// written it); only a takeover stops it. Writes are fenced anyway: every manifest
// update is a compare-and-swap that a new holder's first write invalidates
// (replicated-manifest.ts), so a holder that was paused past its lease can neither
// publish a segment nor ack the WAL past one.

/** How long a lease revision may stand before peers take the shard over. */
export const LEASE_TTL_MS = 4_000;
/** How often a holder renews each lease. */
export const LEASE_RENEW_INTERVAL_MS = 1_000;
/** How long a holder trusts a lease after sending its last successful renewal. */
export const LEASE_SELF_TRUST_MS = 2_000;
/** How often a node heartbeats its membership key; a node is alive while its key changes within LEASE_TTL_MS. */
export const NODE_HEARTBEAT_INTERVAL_MS = 1_000;

if (LEASE_SELF_TRUST_MS >= LEASE_TTL_MS || LEASE_RENEW_INTERVAL_MS >= LEASE_SELF_TRUST_MS) throw new Error("lease timings: renew < self trust < ttl");

export interface LeaseValue {
  /** Holder node id; null once released. */
  node: string | null;
  /** Which start of that node (a restarted node reclaims its old leases at once). */
  instance: string;
  /** Fencing token: one more on every change of hands. */
  epoch: number;
}

export function parseLeaseValue(bytes: Uint8Array): LeaseValue | null {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as LeaseValue;
    if (typeof value !== "object" || value === null || !Number.isSafeInteger(value.epoch) || (value.node !== null && typeof value.node !== "string") || typeof value.instance !== "string") return null;
    return value;
  } catch {
    return null;
  }
}

export function encodeLeaseValue(value: LeaseValue): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

/** When each key's current revision was first seen, on this process's monotonic clock. */
export class RevisionClock {
  private readonly seen = new Map<string, { revision: number; sinceMs: number }>();

  observe(key: string, revision: number, nowMs: number): void {
    const previous = this.seen.get(key);
    if (!previous || previous.revision !== revision) this.seen.set(key, { revision, sinceMs: nowMs });
  }

  /** How long the key's revision has stood (0 for a key never seen). */
  standingMs(key: string, nowMs: number): number {
    const entry = this.seen.get(key);
    return entry ? nowMs - entry.sinceMs : 0;
  }

  /**
   * Restarts every standing time at `nowMs`: after a stretch this observer could not
   * read (NATS unreachable, a leader election, this process paused), nothing is known
   * about renewals in that stretch, so no holder is judged by it.
   */
  restartAll(nowMs: number): void {
    for (const entry of this.seen.values()) entry.sinceMs = nowMs;
  }

  forget(key: string): void {
    this.seen.delete(key);
  }

  keys(): string[] {
    return [...this.seen.keys()];
  }
}

export type LeaseState =
  /** This very process holds it. */
  | "mine"
  /** Nobody holds it (never taken, or released). */
  | "free"
  /** A previous start of this node holds it: reclaim at once. */
  | "stale-self"
  /** Another holder stopped renewing it. */
  | "lapsed"
  /** Another holder renews it. */
  | "held";

export function leaseState(value: LeaseValue | null, standingMs: number, self: { node: string; instance: string }): LeaseState {
  if (value === null || value.node === null) return "free";
  if (value.node === self.node) return value.instance === self.instance ? "mine" : "stale-self";
  return standingMs >= LEASE_TTL_MS ? "lapsed" : "held";
}

/** The key of a shard's lease. */
export function leaseKey(shard: number): string {
  return `shard.${shard}`;
}
