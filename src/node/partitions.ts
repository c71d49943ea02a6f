// The partitions this node runs now. The shard coordinator starts and stops them as
// leases come and go, under a supervisor of their own; the node reads their lag (flow
// control), their event count (ingest rate) and hands them the WAL's ack floors here.

import { FencedError } from "../cluster/replicated-manifest.ts";
import type { PartitionHandle } from "../cluster/shard-coordinator.ts";
import { PartitionActor } from "../actors/partition-actor.ts";
import { describe, Supervisor } from "../actors/supervisor.ts";
import { PARTITION_MAILBOX_CAPACITY } from "../storage/limits.ts";

/** While a partition start runs longer than this, one progress line per this long. */
const START_PROGRESS_LOG_MS = 10_000;

export class PartitionSet {
  readonly supervisor: Supervisor;
  private readonly actors = new Map<number, PartitionActor>();
  /** Events stored by partitions since stopped: the node's total stays monotonic when shards move away. */
  private retiredEvents = 0;

  constructor(
    private readonly build: (shard: number, epoch: number, trusted: () => boolean) => PartitionActor,
    private readonly log: (line: string) => void,
  ) {
    this.supervisor = new Supervisor({
      name: "partitions",
      log,
      onEscalate: (name, cause) => {
        // A fenced partition fails until the coordinator notices its lease is gone and stops it.
        for (let error: unknown = cause; error instanceof Error; error = error.cause) if (error instanceof FencedError) return;
        log(`FATAL: ${name} keeps failing (${describe(cause)}); shutting the node down`);
        process.kill(process.pid, "SIGTERM");
      },
    });
  }

  /** Starts the shard's partition (its first start must succeed) and returns how to stop it. */
  async start(shard: number, epoch: number, trusted: () => boolean): Promise<PartitionHandle> {
    const actor = this.build(shard, epoch, trusted);
    const startedAt = performance.now();
    // A start waits out JetStream (bounded); say where it is while it does.
    const watchdog = setInterval(() => this.log(`${actor.name}: still starting after ${Math.round((performance.now() - startedAt) / 1000)} s: ${actor.startPhase}`), START_PROGRESS_LOG_MS);
    try {
      await this.supervisor.spawn(actor, { capacity: PARTITION_MAILBOX_CAPACITY, policy: "block" });
    } catch (error) {
      await actor.stop("killed").catch(() => undefined);
      throw error;
    } finally {
      clearInterval(watchdog);
    }
    this.actors.set(shard, actor);
    return {
      stop: async (reason) => {
        await this.supervisor.stop(actor.name, reason);
        if (this.actors.get(shard) === actor) this.actors.delete(shard);
        this.retiredEvents += actor.eventsTotal;
      },
    };
  }

  /** The worst lag of any running partition. */
  lagMs(nowMs: number): number {
    let worst = 0;
    for (const actor of this.actors.values()) worst = Math.max(worst, actor.lagMs(nowMs));
    return worst;
  }

  /** Events stored so far by every partition this node ran, monotonic. */
  eventsTotal(): number {
    let total = this.retiredEvents;
    for (const actor of this.actors.values()) total += actor.eventsTotal;
    return total;
  }

  forgetDurableThrough(ackFloors: readonly number[]): void {
    ackFloors.forEach((floor, shard) => this.actors.get(shard)?.forgetDurableThrough(floor));
  }
}
