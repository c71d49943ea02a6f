// One node-wide queue for the storage work of every shard (memtable flushes, seals,
// compactions). DuckDB runs each statement on one of Bun's few pool threads (4 here,
// also the threads queries run on): with 16 shards free to start work at once, the
// pool filled with seals and a search waited behind all of them (probe search p99
// 1.3 s at 250k events/s). Capping concurrent storage work leaves threads for
// queries, and running seals before compactions keeps memtables small when the node
// is busy. A flush takes no slot and never waits: it runs no DuckDB statement (it
// writes a memtable part file, memtable-parts.ts), and held behind seals it only kept
// new rows from becoming searchable (a seal takes ~0.5 s under load).

/** Kinds of storage work, most urgent first. */
const STORAGE_WORK_KINDS = ["flush", "seal", "compact"] as const;
export type StorageWorkKind = (typeof STORAGE_WORK_KINDS)[number];

/**
 * How long work of a kind may wait before it goes ahead of more urgent kinds. Under
 * sustained load flushes alone filled both slots and seals never ran (the memtable
 * grew to 8M rows in a 20 s benchmark); a seal that waited a second now runs next.
 * Compaction may wait much longer: deferring it under load is the point.
 */
export const STORAGE_WORK_WAIT_MAX_MS: Record<StorageWorkKind, number> = { flush: 0, seal: 1_000, compact: 30_000 };

/**
 * Most items of a kind running at once. Compaction is capped at one: in a 180 s
 * benchmark every shard reached its compaction threshold together, overdue
 * compactions took both slots back to back, and flushes stalled for seconds.
 */
const STORAGE_WORK_RUNNING_MAX: Record<StorageWorkKind, number> = { flush: Infinity, seal: Infinity, compact: 1 };

/** Kinds that take no slot and start at once (see the top of the file). */
const SLOTLESS_KINDS: ReadonlySet<StorageWorkKind> = new Set(["flush"]);

const NONE_RUNNING: Readonly<Record<StorageWorkKind, number>> = Object.freeze({ flush: 0, seal: 0, compact: 0 });

export interface Waiting {
  enqueuedAtMs: number;
  start: () => void;
}

/**
 * Which kind runs next (pure): among kinds with work waiting and under their running
 * cap, the longest-waiting item past its kind's wait bound, else the most urgent
 * kind; undefined when nothing may start.
 */
export function nextStorageWork(
  queues: Readonly<Record<StorageWorkKind, readonly Waiting[]>>,
  nowMs: number,
  running: Readonly<Record<StorageWorkKind, number>> = NONE_RUNNING,
): StorageWorkKind | undefined {
  const eligible = (kind: StorageWorkKind) => queues[kind].length > 0 && running[kind] < STORAGE_WORK_RUNNING_MAX[kind];
  let overdue: StorageWorkKind | undefined;
  let overdueSince = Infinity;
  for (const kind of STORAGE_WORK_KINDS) {
    const head = queues[kind][0];
    if (head && eligible(kind) && kind !== "flush" && nowMs - head.enqueuedAtMs >= STORAGE_WORK_WAIT_MAX_MS[kind] && head.enqueuedAtMs < overdueSince) {
      overdue = kind;
      overdueSince = head.enqueuedAtMs;
    }
  }
  return overdue ?? STORAGE_WORK_KINDS.find(eligible);
}

interface StorageWorkStats {
  running: number;
  waiting: Record<StorageWorkKind, number>;
  /** Work items that had to wait for a slot, by kind. */
  queued: Record<StorageWorkKind, number>;
}

export class StorageWorkScheduler {
  private readonly queues: Record<StorageWorkKind, Waiting[]> = { flush: [], seal: [], compact: [] };
  private readonly queued: Record<StorageWorkKind, number> = { flush: 0, seal: 0, compact: 0 };
  private readonly runningByKind: Record<StorageWorkKind, number> = { flush: 0, seal: 0, compact: 0 };

  /** `concurrency`: storage work items that may run at once (each is one DuckDB statement at a time). */
  constructor(
    readonly concurrency: number,
    private readonly now: () => number = performance.now.bind(performance),
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`storage work concurrency must be a positive integer, got ${concurrency}`);
  }

  /** Work items running now, of every kind. */
  private get running(): number {
    return this.runningByKind.flush + this.runningByKind.seal + this.runningByKind.compact;
  }

  /** Slots taken: work running of the kinds that take one. */
  private get slotsTaken(): number {
    return STORAGE_WORK_KINDS.reduce((sum, kind) => sum + (SLOTLESS_KINDS.has(kind) ? 0 : this.runningByKind[kind]), 0);
  }

  /**
   * Runs `work` once a slot is free (a flush at once, taking none); waiting work starts
   * in kind order (seal, compact) unless an item waited past its kind's bound
   * (nextStorageWork), first come first served within a kind.
   */
  async run<T>(kind: StorageWorkKind, work: () => Promise<T>): Promise<T> {
    if (SLOTLESS_KINDS.has(kind) || (this.slotsTaken < this.concurrency && this.runningByKind[kind] < STORAGE_WORK_RUNNING_MAX[kind])) {
      this.runningByKind[kind]++;
    } else {
      this.queued[kind]++;
      // dispatch() counts the item as running before it resolves this.
      await new Promise<void>((resolve) => this.queues[kind].push({ enqueuedAtMs: this.now(), start: resolve }));
    }
    try {
      return await work();
    } finally {
      this.runningByKind[kind]--;
      this.dispatch();
    }
  }

  stats(): StorageWorkStats {
    return {
      running: this.running,
      waiting: { flush: this.queues.flush.length, seal: this.queues.seal.length, compact: this.queues.compact.length },
      queued: { ...this.queued },
    };
  }

  /** Starts waiting work while slots are free, most urgent first (nextStorageWork). */
  private dispatch(): void {
    while (this.slotsTaken < this.concurrency) {
      const kind = nextStorageWork(this.queues, this.now(), this.runningByKind);
      if (!kind) return;
      this.runningByKind[kind]++;
      this.queues[kind].shift()!.start();
    }
  }
}
