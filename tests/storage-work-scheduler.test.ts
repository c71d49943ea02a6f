// Goal: the node-wide storage work queue runs at most `concurrency` seals and
// compactions at once while flushes start at once without a slot, starts waiting work
// most urgent kind first (nextStorageWork: flush, then seal, then compact) unless an
// item of a kind waited past its bound (STORAGE_WORK_WAIT_MAX_MS; flush never counts
// as overdue), frees a slot when work throws and hands the error to the caller, and
// refuses a concurrency that is not a positive integer.
// Method: the pure nextStorageWork over tables of queues and clock readings; the
// StorageWorkScheduler driven with work items the test finishes by hand (deferred
// promises) and an injected clock, recording the order in which items start. A
// pending promise is shown pending with Bun.peek.status after the event loop had a
// full turn to settle it (setImmediate), never by sleeping.

import { describe, expect, test } from "bun:test";
import { nextStorageWork, STORAGE_WORK_WAIT_MAX_MS, StorageWorkScheduler, type StorageWorkKind, type Waiting } from "../src/storage/work-scheduler.ts";

/** Lets every queued microtask and one macrotask run, so a promise that can settle has. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Queues with one waiter per given enqueue time, per kind (heads first). */
function queues(waiting: Partial<Record<StorageWorkKind, number[]>>): Record<StorageWorkKind, Waiting[]> {
  const of = (times: number[] = []) => times.map((enqueuedAtMs) => ({ enqueuedAtMs, start: () => undefined }));
  return { flush: of(waiting.flush), seal: of(waiting.seal), compact: of(waiting.compact) };
}

interface Job {
  name: string;
  result: Promise<string>;
  finish(): void;
  fail(error: Error): void;
}

/**
 * Drives a scheduler: each job is work that records when it starts (and how many run
 * at that moment) and finishes only when the test says so.
 */
function harness(scheduler: StorageWorkScheduler) {
  const started: string[] = [];
  let running = 0;
  let mostRunning = 0;
  const jobs = new Map<string, Job>();
  const submit = (kind: StorageWorkKind, name: string): Job => {
    let finish!: () => void;
    let fail!: (error: Error) => void;
    const result = scheduler.run(kind, async () => {
      started.push(name);
      running++;
      mostRunning = Math.max(mostRunning, running);
      try {
        await new Promise<void>((resolve, reject) => {
          finish = resolve;
          fail = reject;
        });
        return name;
      } finally {
        running--;
      }
    });
    const job: Job = {
      name,
      result,
      finish: () => finish(),
      fail: (error) => fail(error),
    };
    jobs.set(name, job);
    return job;
  };
  /** Finishes a running job and lets the scheduler hand its slot on. */
  const complete = async (name: string): Promise<void> => {
    const job = jobs.get(name)!;
    job.finish();
    expect(await job.result).toBe(name);
    await settle();
  };
  return { started, submit, complete, mostRunning: () => mostRunning, running: () => running };
}

describe("nextStorageWork (pure)", () => {
  const SEAL = STORAGE_WORK_WAIT_MAX_MS.seal;
  const COMPACT = STORAGE_WORK_WAIT_MAX_MS.compact;

  test("the wait bounds: flush never waits on others, seal one second, compaction thirty", () => {
    expect(STORAGE_WORK_WAIT_MAX_MS).toEqual({ flush: 0, seal: 1_000, compact: 30_000 });
  });

  test.each<[string, Partial<Record<StorageWorkKind, number[]>>, number, StorageWorkKind | undefined]>([
    ["nothing waits", {}, 0, undefined],
    ["only a compaction waits", { compact: [0] }, 0, "compact"],
    ["only a seal waits", { seal: [0] }, 0, "seal"],
    ["only a flush waits", { flush: [0] }, 0, "flush"],
    ["every kind waits, none overdue: flush first", { flush: [10], seal: [0], compact: [0] }, 100, "flush"],
    ["seal and compaction wait, none overdue: seal first", { seal: [10], compact: [0] }, 100, "seal"],
    ["a seal 1 ms short of its bound stays behind a flush", { flush: [500], seal: [0] }, SEAL - 1, "flush"],
    ["a seal exactly at its bound goes ahead of a flush", { flush: [500], seal: [0] }, SEAL, "seal"],
    ["a seal past its bound goes ahead of a flush that waited longer", { flush: [0], seal: [100] }, 100 + SEAL + 1, "seal"],
    ["a flush waiting for ages is still not overdue: an overdue compaction goes first", { flush: [0], compact: [10] }, 10 + COMPACT, "compact"],
    ["a compaction 1 ms short of its bound stays behind a seal", { seal: [COMPACT - 2], compact: [0] }, COMPACT - 1, "seal"],
    ["a compaction at its bound goes ahead of a fresh seal and flush", { flush: [COMPACT], seal: [COMPACT], compact: [0] }, COMPACT, "compact"],
    ["two overdue kinds: the compaction waited longer", { seal: [5_000], compact: [0] }, 31_000, "compact"],
    ["two overdue kinds: the seal waited longer", { seal: [0], compact: [100] }, 31_000, "seal"],
    ["two overdue kinds enqueued at the same time: the more urgent kind", { seal: [0], compact: [0] }, 31_000, "seal"],
    ["only the head of a queue counts (FIFO: the head waited longest)", { flush: [0], seal: [900, 0] }, SEAL + 899, "flush"],
  ])("%s", (_what, waiting, nowMs, expected) => {
    expect(nextStorageWork(queues(waiting), nowMs)).toBe(expected);
  });

  test.each<[string, Partial<Record<StorageWorkKind, number[]>>, Partial<Record<StorageWorkKind, number>>, StorageWorkKind | undefined]>([
    ["a compaction runs: an overdue one waits, nothing else does", { compact: [0] }, { compact: 1 }, undefined],
    ["a compaction runs: a flush goes instead of an overdue compaction", { flush: [40_000], compact: [0] }, { compact: 1 }, "flush"],
    ["seals and flushes have no cap of their own", { seal: [0] }, { seal: 5, flush: 5 }, "seal"],
  ])("running caps: %s", (_what, waiting, running, expected) => {
    expect(nextStorageWork(queues(waiting), 41_000, { flush: 0, seal: 0, compact: 0, ...running })).toBe(expected);
  });

  test("it does not touch the queues", () => {
    const input = queues({ flush: [1, 2], seal: [0], compact: [0] });
    nextStorageWork(input, 50_000);
    expect({ flush: input.flush.length, seal: input.seal.length, compact: input.compact.length }).toEqual({ flush: 2, seal: 1, compact: 1 });
  });
});

describe("StorageWorkScheduler", () => {
  test.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("concurrency %p is refused", (concurrency) => {
    expect(() => new StorageWorkScheduler(concurrency)).toThrow(new RangeError(`storage work concurrency must be a positive integer, got ${concurrency}`));
  });

  test("concurrency 1 is accepted and runs work at once when idle", async () => {
    const scheduler = new StorageWorkScheduler(1);
    expect(await scheduler.run("compact", async () => 42)).toBe(42);
    expect(scheduler.stats()).toEqual({ running: 0, waiting: { flush: 0, seal: 0, compact: 0 }, queued: { flush: 0, seal: 0, compact: 0 } });
  });

  test("never runs more than `concurrency` seals and compactions at once, and every item runs", async () => {
    const scheduler = new StorageWorkScheduler(2, () => 0);
    const { started, submit, complete, mostRunning, running } = harness(scheduler);
    const kinds: StorageWorkKind[] = ["seal", "compact", "compact", "seal", "compact", "seal", "seal", "compact"];
    const names = kinds.map((kind, index) => submit(kind, `${kind}-${index}`).name);
    await settle();
    expect(started).toEqual(["seal-0", "compact-1"]);
    expect(scheduler.stats()).toEqual({ running: 2, waiting: { flush: 0, seal: 3, compact: 3 }, queued: { flush: 0, seal: 3, compact: 3 } });

    // Finish whatever started first until everything ran; the bound holds throughout.
    const done: string[] = [];
    while (done.length < names.length) {
      const next = started.find((name) => !done.includes(name))!;
      await complete(next);
      done.push(next);
      expect(running()).toBeLessThanOrEqual(2);
      // At most one compaction runs at a time, so a slot may idle while only compactions wait.
      const left = names.filter((name) => !done.includes(name));
      const canRun = Math.min(2, left.filter((name) => !name.startsWith("compact")).length + Math.min(1, left.filter((name) => name.startsWith("compact")).length));
      expect(scheduler.stats().running).toBe(canRun);
    }
    expect(mostRunning()).toBe(2);
    expect(started.toSorted()).toEqual(names.toSorted());
    expect(scheduler.stats()).toEqual({ running: 0, waiting: { flush: 0, seal: 0, compact: 0 }, queued: { flush: 0, seal: 3, compact: 3 } });
  });

  test("a flush starts at once without a slot, however many seals and compactions run or wait", async () => {
    const scheduler = new StorageWorkScheduler(1, () => 0);
    const { started, submit, complete } = harness(scheduler);
    submit("seal", "seal-a");
    submit("seal", "seal-b");
    submit("compact", "compact-a");
    submit("flush", "flush-a");
    submit("flush", "flush-b");
    await settle();
    expect(started).toEqual(["seal-a", "flush-a", "flush-b"]);
    expect(scheduler.stats()).toEqual({ running: 3, waiting: { flush: 0, seal: 1, compact: 1 }, queued: { flush: 0, seal: 1, compact: 1 } });
    // Finishing a flush frees no slot: the waiting seal still waits for seal-a.
    await complete("flush-a");
    expect(started).toEqual(["seal-a", "flush-a", "flush-b"]);
    await complete("seal-a");
    expect(started).toEqual(["seal-a", "flush-a", "flush-b", "seal-b"]);
    for (const name of ["flush-b", "seal-b", "compact-a"]) await complete(name);
    expect(started).toEqual(["seal-a", "flush-a", "flush-b", "seal-b", "compact-a"]);
  });

  test("at most one compaction runs at once: a second waits even with a slot free, and a seal takes that slot", async () => {
    const scheduler = new StorageWorkScheduler(2, () => 0);
    const { started, submit, complete } = harness(scheduler);
    submit("compact", "compact-a");
    submit("compact", "compact-b");
    await settle();
    expect(started).toEqual(["compact-a"]);
    expect(scheduler.stats()).toEqual({ running: 1, waiting: { flush: 0, seal: 0, compact: 1 }, queued: { flush: 0, seal: 0, compact: 1 } });
    submit("seal", "seal-a");
    await settle();
    expect(started).toEqual(["compact-a", "seal-a"]);
    await complete("compact-a");
    await settle();
    expect(started).toEqual(["compact-a", "seal-a", "compact-b"]);
  });

  test("as slots free up, waiting seals start before compactions, first come first served within a kind", async () => {
    const scheduler = new StorageWorkScheduler(1, () => 0);
    const { started, submit, complete } = harness(scheduler);
    submit("compact", "blocker");
    for (const [kind, name] of [
      ["compact", "compact-a"],
      ["seal", "seal-a"],
      ["compact", "compact-b"],
      ["seal", "seal-b"],
    ] as const) {
      submit(kind, name);
    }
    await settle();
    expect(started).toEqual(["blocker"]);
    for (const name of ["blocker", "seal-a", "seal-b", "compact-a"]) await complete(name);
    await complete("compact-b");
    expect(started).toEqual(["blocker", "seal-a", "seal-b", "compact-a", "compact-b"]);
  });

  test("a compaction that waited past 30 s goes ahead of a fresher seal; one that waited less does not", async () => {
    let nowMs = 0;
    const scheduler = new StorageWorkScheduler(1, () => nowMs);
    const { started, submit, complete } = harness(scheduler);
    submit("seal", "blocker");
    submit("compact", "compact");
    nowMs = 29_500;
    submit("seal", "seal-a");
    submit("seal", "seal-b");
    await settle();
    nowMs = 29_999;
    await complete("blocker");
    expect(started).toEqual(["blocker", "seal-a"]);
    nowMs = 30_000;
    await complete("seal-a");
    expect(started).toEqual(["blocker", "seal-a", "compact"]);
    await complete("compact");
    await complete("seal-b");
    expect(started).toEqual(["blocker", "seal-a", "compact", "seal-b"]);
  });

  test.each<[string, () => Promise<string>]>([
    ["rejects", async () => Promise.reject(new Error("disk full"))],
    ["throws before returning a promise", () => {
      throw new Error("disk full");
    }],
  ])("work that %s frees its slot and its error reaches the caller", async (_what, work) => {
    const scheduler = new StorageWorkScheduler(1, () => 0);
    const { started, submit, complete } = harness(scheduler);
    submit("seal", "blocker");
    const failing = scheduler.run("seal", work);
    // Handled now: it settles while the test awaits other things.
    const outcome = failing.then(
      () => "resolved",
      (error: Error) => error.message,
    );
    submit("compact", "after");
    await settle();
    expect(Bun.peek.status(failing)).toBe("pending");
    expect(scheduler.stats()).toEqual({ running: 1, waiting: { flush: 0, seal: 1, compact: 1 }, queued: { flush: 0, seal: 1, compact: 1 } });

    await complete("blocker");
    expect(await outcome).toBe("disk full");
    expect(started).toEqual(["blocker", "after"]);
    await complete("after");
    expect(scheduler.stats()).toEqual({ running: 0, waiting: { flush: 0, seal: 0, compact: 0 }, queued: { flush: 0, seal: 1, compact: 1 } });
  });

  test("a job that fails while others wait hands its slot on", async () => {
    const scheduler = new StorageWorkScheduler(1, () => 0);
    const { started, submit, complete } = harness(scheduler);
    const failing = submit("seal", "failing");
    submit("compact", "next");
    await settle();
    failing.fail(new Error("parquet write failed"));
    await expect(failing.result).rejects.toThrow("parquet write failed");
    await settle();
    expect(started).toEqual(["failing", "next"]);
    await complete("next");
    expect(scheduler.stats().running).toBe(0);
  });
});
