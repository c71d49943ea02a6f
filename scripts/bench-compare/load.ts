// The main thread's side of the load generators: starts --producers threads
// (load-worker.ts) for one system, has each make and encode its share of the pool,
// runs phases on all of them at once (splitting the event target and the rate cap),
// and sums their counters as they report.

import { Worker } from "node:worker_threads";
import { emptyCounters, type FromWorker, type LoadCounters, type LoadTarget, type RunCommand, type ToWorker } from "./load-messages.ts";

/** Longest a thread may take to make, encode and connect its share of the pool. */
const PREPARE_TIMEOUT_MS = 300_000;
/** Longest a phase may run past its --seconds-max bound (flushing, retries) before the run is called failed. */
const PHASE_OVERRUN_MS = 300_000;
/** Longest a thread may take to close its client at the end. */
const CLOSE_TIMEOUT_MS = 30_000;

const sumCounters = (all: readonly LoadCounters[]): LoadCounters => ({
  sent: all.reduce((sum, counters) => sum + counters.sent, 0),
  acked: all.reduce((sum, counters) => sum + counters.acked, 0),
  failed: all.reduce((sum, counters) => sum + counters.failed, 0),
  retries: all.reduce((sum, counters) => sum + counters.retries, 0),
  refused: all.reduce((sum, counters) => sum + counters.refused, 0),
  dropped: all.reduce((sum, counters) => sum + counters.dropped, 0),
  lastAckAtMs: all.reduce((latest, counters) => Math.max(latest, counters.lastAckAtMs), 0),
});

/** What a phase asks of all threads together. */
export interface PhaseLoad {
  phaseId: string;
  startAtMs: number;
  minSeconds: number;
  maxSeconds: number;
  /** Events in all (0: by time alone). */
  eventsTarget: number;
  /** Events/s in all; 0 = full speed. */
  rate: number;
}

export class LoadGenerator {
  private listener?: (index: number, message: FromWorker) => void;
  private failure?: Error;

  private constructor(
    private readonly workers: Worker[],
    /** Pool events made by all threads, and the slowest thread's seconds to make, encode and connect. */
    readonly prepared: { events: number; seconds: number },
  ) {}

  /** Starts `threads` load generators for `target` and waits until each has its share of the pool ready and connected. */
  static async start(options: { target: LoadTarget; threads: number; poolEvents: number; seed: number }): Promise<LoadGenerator> {
    const workers = Array.from({ length: options.threads }, () => new Worker(new URL("./load-worker.ts", import.meta.url)));
    const generator = new LoadGenerator(workers, { events: 0, seconds: 0 });
    workers.forEach((worker, index) => {
      worker.on("message", (message: FromWorker) => generator.listener?.(index, message));
      worker.on("error", (error: unknown) => generator.fail(error instanceof Error ? error : new Error(String(error))));
    });
    const ready = new Set<number>();
    const accept = (index: number, message: FromWorker) => {
      if (message.type !== "prepared") return false;
      ready.add(index);
      generator.prepared.events += message.events;
      generator.prepared.seconds = Math.max(generator.prepared.seconds, message.seconds);
      return ready.size === workers.length;
    };
    const prepare = () => workers.forEach((worker, index) => worker.postMessage({ type: "prepare", target: options.target, poolEvents: options.poolEvents, seed: options.seed, worker: index, workers: workers.length } satisfies ToWorker));
    try {
      await generator.until(PREPARE_TIMEOUT_MS, "preparing the pool", accept, prepare);
    } catch (error) {
      await Promise.all(workers.map((worker) => worker.terminate()));
      throw error;
    }
    return generator;
  }

  /** Runs one phase on every thread; `onStats` gets the summed counters and the new ack latencies (ms) as they arrive. Resolves with the final sums. */
  async run(load: PhaseLoad, onStats: (counters: LoadCounters, ackMs: number[]) => void): Promise<LoadCounters> {
    const threads = this.workers.length;
    const latest: LoadCounters[] = this.workers.map(emptyCounters);
    const done = new Set<number>();
    const timeoutMs = Math.max(0, load.startAtMs - Date.now()) + load.maxSeconds * 1000 + PHASE_OVERRUN_MS;
    await this.until(timeoutMs, "running a phase", (index, message) => {
      if (message.type !== "stats" && message.type !== "done") return false;
      latest[index] = message.counters;
      onStats(sumCounters(latest), message.ackMs);
      if (message.type === "done") done.add(index);
      return done.size === threads;
    }, () => {
      for (const worker of this.workers) {
        const command: RunCommand = { type: "run", ...load, eventsTarget: Math.ceil(load.eventsTarget / threads), rate: load.rate / threads };
        worker.postMessage(command);
      }
    });
    return sumCounters(latest);
  }

  /** Closes every thread's client and ends the threads. */
  async close(): Promise<void> {
    const closed = new Set<number>();
    try {
      await this.until(CLOSE_TIMEOUT_MS, "closing", (index, message) => message.type === "closed" && closed.add(index).size === this.workers.length, () => this.workers.forEach((worker) => worker.postMessage({ type: "exit" } satisfies ToWorker)));
    } finally {
      await Promise.all(this.workers.map((worker) => worker.terminate()));
    }
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.listener?.(-1, { type: "error", message: error.stack ?? error.message });
  }

  /** Sends with `start`, then resolves once `accept` returns true for a message; rejects on a thread's error or after `timeoutMs`. */
  private until(timeoutMs: number, what: string, accept: (index: number, message: FromWorker) => boolean, start: () => void): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      const timer = Number.isFinite(timeoutMs) ? setTimeout(() => finish(new Error(`load generator: ${what} took over ${timeoutMs / 1000} s`)), timeoutMs) : undefined;
      const finish = (error?: Error) => {
        clearTimeout(timer);
        this.listener = undefined;
        if (error) reject(error);
        else resolve();
      };
      this.listener = (index, message) => {
        if (message.type === "error") finish(new Error(`load generator thread ${index}: ${message.message}`));
        else if (accept(index, message)) finish();
      };
      start();
    });
  }
}
