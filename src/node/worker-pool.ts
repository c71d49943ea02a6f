// The size of Bun's worker pool, which runs every DuckDB statement (@duckdb/node-api's
// async work) and fs.promises call. Bun sizes it from UV_THREADPOOL_SIZE once, when
// the process starts, and otherwise gives it one thread a core: on the 2-core machine
// two seals held both threads for ~1.3 s each under load, and a query's 16 shard
// statements (a few ms of work each) waited behind them for 500-700 ms. With threads
// of their own they run beside the seals. Not one per shard: 16 query threads beside
// the seals crowded the event loop (which ingests and merges the replies) off the
// cores, and a query answered from the counters alone took 216 ms at p50 (74 with 2).

import { QUERY_POOL_THREADS, STORAGE_WORK_CONCURRENCY } from "../storage/limits.ts";

const WORKER_POOL_ENV = "UV_THREADPOOL_SIZE";
/** The pool a node starts with unless UV_THREADPOOL_SIZE says otherwise. */
export const WORKER_POOL_THREADS = STORAGE_WORK_CONCURRENCY + QUERY_POOL_THREADS;

/**
 * The environment to exec the node again with, or undefined when the pool is set
 * already (an operator's own UV_THREADPOOL_SIZE is kept). Pure.
 */
function workerPoolEnv(env: Record<string, string | undefined>): Record<string, string> | undefined {
  if (env[WORKER_POOL_ENV] !== undefined && env[WORKER_POOL_ENV] !== "") return undefined;
  const next: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) next[name] = value;
  next[WORKER_POOL_ENV] = String(WORKER_POOL_THREADS);
  return next;
}

/**
 * Replaces this process (same pid, same open files: an execve) with itself started
 * with the pool set, unless it is set already. Call before any statement or
 * fs.promises call starts the pool (modules imported before it load twice). Where the runtime has no process.execve, the
 * node runs on with the default pool and says so.
 */
export function execWithWorkerPool(log: (line: string) => void): void {
  const env = workerPoolEnv(process.env);
  if (!env) return;
  const execve = (process as { execve?: (file: string, args: string[], env: Record<string, string>) => never }).execve;
  if (typeof execve !== "function") {
    log(`${WORKER_POOL_ENV} is not set and this runtime cannot re-exec itself: DuckDB statements share one thread a core (set ${WORKER_POOL_ENV}=${WORKER_POOL_THREADS})`);
    return;
  }
  execve.call(process, process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], env);
}
