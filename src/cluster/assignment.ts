// Where each shard should live: a pure plan from the live nodes and the current lease
// holders. Every node computes it from its own view of the same KV buckets and acts
// only on its own part (take what is planned for it, hand away what is planned
// elsewhere), so no leader is needed; the leases decide any race.
//
// The plan is balanced (owned counts differ by at most one) and moves as little as
// possible: a node keeps the shards it holds up to its share, and only the excess,
// the shards of dead or draining nodes, and unowned shards are placed anew.

import type { ShardMove } from "./status-types.ts";

export interface AssignmentInput {
  shards: number;
  /** Nodes that may take shards: alive and not draining. */
  eligible: readonly string[];
  /** Current lease holder per shard (null: nobody); may name dead or draining nodes. */
  owners: readonly (string | null)[];
}

/** The planned holder of every shard; null only when no node is eligible. */
export function planAssignment(input: AssignmentInput): (string | null)[] {
  const nodes = [...new Set(input.eligible)].sort();
  if (nodes.length === 0) return Array.from({ length: input.shards }, () => null);
  const owned = new Map<string, number[]>(nodes.map((node) => [node, []]));
  for (let shard = 0; shard < input.shards; shard++) {
    const owner = input.owners[shard] ?? null;
    if (owner !== null) owned.get(owner)?.push(shard);
  }
  // Shares: floor(S/N) each, one more for the first S mod N nodes; those that hold
  // the most get the larger shares, so fewer shards move.
  const base = Math.floor(input.shards / nodes.length);
  const extra = input.shards % nodes.length;
  const byHoldings = [...nodes].sort((a, b) => owned.get(b)!.length - owned.get(a)!.length || (a < b ? -1 : 1));
  const share = new Map(byHoldings.map((node, rank) => [node, base + (rank < extra ? 1 : 0)]));
  const targets: (string | null)[] = Array.from({ length: input.shards }, () => null);
  const load = new Map(nodes.map((node) => [node, 0]));
  for (const node of nodes) {
    for (const shard of owned.get(node)!.slice(0, share.get(node)!)) {
      targets[shard] = node;
      load.set(node, load.get(node)! + 1);
    }
  }
  for (let shard = 0; shard < input.shards; shard++) {
    if (targets[shard] !== null) continue;
    // The node furthest below its share; ties go to the lowest id, so every node plans alike.
    let best = nodes[0];
    for (const node of nodes) {
      const room = share.get(node)! - load.get(node)!;
      const bestRoom = share.get(best)! - load.get(best)!;
      if (room > bestRoom) best = node;
    }
    targets[shard] = best;
    load.set(best, load.get(best)! + 1);
  }
  return targets;
}

/** The moves between the current holders and a plan. */
export function planMoves(owners: readonly (string | null)[], targets: readonly (string | null)[]): ShardMove[] {
  const moves: ShardMove[] = [];
  targets.forEach((to, shard) => {
    const from = owners[shard] ?? null;
    if (to !== null && to !== from) moves.push({ shard, from, to });
  });
  return moves;
}
