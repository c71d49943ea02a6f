// Live ingest beside the queries, the main thread's side: a worker thread
// (live-worker.ts) publishes to Sluice and inserts into ClickHouse at --ingest-rate, so
// encoding never delays the query timings; its stats arrive every second.

import { Worker } from "node:worker_threads";

export interface LiveWorkerData {
  /** Publish to Sluice's WAL on this server (null: not to Sluice). */
  natsUrl: string | null;
  shards: number;
  rate: number;
  seed: number;
  clickhouseUrl: string | null;
}

export interface LiveStats {
  type: "ready" | "stats" | "done";
  /** Date.now() when taken. */
  at: number;
  acked: number;
  refused: number;
  failed: number;
  flowWaits: number;
  clickhouseRows: number;
  clickhouseFailures: number;
  clickhouseInsertMsMax: number;
}

/** Starts the live ingest worker and resolves once it is publishing; `latest` always holds its last stats. */
export async function startLive(data: LiveWorkerData): Promise<{ latest: () => LiveStats; stop: () => Promise<LiveStats> }> {
  const worker = new Worker(new URL("./live-worker.ts", import.meta.url), { workerData: data });
  let latest: LiveStats | undefined;
  let onDone: ((stats: LiveStats) => void) | undefined;
  const done = new Promise<LiveStats>((resolveDone) => (onDone = resolveDone));
  const ready = new Promise<void>((resolveReady, reject) => {
    worker.on("message", (stats: LiveStats) => {
      latest = stats;
      if (stats.type === "ready") resolveReady();
      if (stats.type === "done") onDone?.(stats);
    });
    worker.on("error", reject);
  });
  await ready;
  return {
    latest: () => latest!,
    stop: async () => {
      worker.postMessage("stop");
      const final = await Promise.race([done, Bun.sleep(60_000).then(() => latest!)]);
      await worker.terminate();
      return final;
    },
  };
}
