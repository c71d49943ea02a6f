// Serves one shard's queries over NATS request/reply for its partition actor: takes a
// snapshot of the store, runs the query on a pooled DuckDB connection, and stops the
// work when the query's time budget runs out or the gateway says its client left
// (DuckDB's interrupt). Queries bypass the actor's WAL mailbox: under ingest load it is
// full by design (the consumer's backpressure), and a read must not wait behind writes.

import type { DuckDBConnection } from "@duckdb/node-api";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { describe } from "../actors/supervisor.ts";
import { QUERY_PROTOCOL_VERSION, type QueryCancel, type ShardQueryReply, type ShardQueryRequest } from "../protocol/query-messages.ts";
import { QUERY_CANCEL_SUBJECT, QUERY_QUEUE_GROUP, querySubject } from "../protocol/subjects.ts";
import type { Duck } from "../storage/duckdb.ts";
import { SHARD_QUERY_CONCURRENCY } from "../storage/limits.ts";
import type { DataPaths } from "../storage/paths.ts";
import type { ShardStore } from "../storage/shard-store.ts";
import { shardReplyText } from "../protocol/aggregate-wire.ts";
import { counterPlan, counterRows, withNewest } from "./counter-aggregate.ts";
import { QUERY_TIMEOUT_MAX_MS } from "./limits.ts";
import { ReplyTooLargeError, runCountedAggregate, runShardQuery } from "./shard-query.ts";
import { skipTree } from "./skip-keys.ts";

export interface ShardQueryServerOptions {
  nc: NatsConnection;
  shard: number;
  duck: Duck;
  paths: DataPaths;
  /** The store to read, or undefined while the shard restarts. */
  store: () => ShardStore | undefined;
  log: (line: string) => void;
}

interface Running {
  connection: DuckDBConnection;
  /** Why it was interrupted, once it was. */
  stopped?: "timeout" | "cancelled";
}

export class ShardQueryServer {
  private subscriptions: Subscription[] = [];
  private connections: DuckDBConnection[] = [];
  private running = new Map<string, Running>();
  private active = 0;
  readonly counters = { queries: 0, queriesBusy: 0, queriesTimedOut: 0, queriesCancelled: 0 };

  constructor(private readonly options: ShardQueryServerOptions) {}

  get activeQueries(): number {
    return this.active;
  }

  start(): void {
    const { nc, shard, log } = this.options;
    this.subscriptions.push(
      nc.subscribe(querySubject(shard), { queue: QUERY_QUEUE_GROUP, callback: (error, message) => (error ? log(`shard ${shard}: query subscription: ${error.message}`) : this.receive(message)) }),
      nc.subscribe(QUERY_CANCEL_SUBJECT, { callback: (error, message) => (error ? log(`shard ${shard}: cancel subscription: ${error.message}`) : this.cancel(message)) }),
    );
  }

  async stop(): Promise<void> {
    for (const subscription of this.subscriptions.splice(0)) await subscription.drain().catch((error) => this.options.log(`shard ${this.options.shard}: query drain: ${describe(error)}`));
    for (const connection of this.connections.splice(0)) connection.closeSync();
  }

  private cancel(message: Msg): void {
    let cancel: QueryCancel;
    try {
      cancel = message.json<QueryCancel>();
    } catch {
      return; // not ours to answer: cancels are fire and forget
    }
    const running = typeof cancel?.id === "string" ? this.running.get(cancel.id) : undefined;
    if (running && !running.stopped) {
      running.stopped = "cancelled";
      this.counters.queriesCancelled++;
      running.connection.interrupt();
    }
  }

  private receive(message: Msg): void {
    const shard = this.options.shard;
    const respond = (reply: ShardQueryReply) => {
      if (message.reply) message.respond(shardReplyText(reply));
    };
    let request: ShardQueryRequest;
    try {
      request = message.json<ShardQueryRequest>();
    } catch (error) {
      respond({ ok: false, shard, code: "bad_request", error: `query is not JSON: ${describe(error)}` });
      return;
    }
    if (request?.v !== QUERY_PROTOCOL_VERSION) {
      respond({ ok: false, shard, code: "bad_request", error: `query protocol version ${String(request?.v)} is not ${QUERY_PROTOCOL_VERSION}` });
      return;
    }
    if (typeof request.id !== "string" || !Number.isInteger(request.timeoutMs) || request.timeoutMs < 1 || request.timeoutMs > QUERY_TIMEOUT_MAX_MS) {
      respond({ ok: false, shard, code: "bad_request", error: "query needs an id and a timeoutMs within the maximum" });
      return;
    }
    const store = this.options.store();
    if (!store) {
      respond({ ok: false, shard, code: "stopping", error: `shard ${shard} is restarting` });
      return;
    }
    if (this.active >= SHARD_QUERY_CONCURRENCY) {
      this.counters.queriesBusy++;
      respond({ ok: false, shard, code: "busy", error: `shard ${shard} runs ${SHARD_QUERY_CONCURRENCY} queries already` });
      return;
    }
    this.active++;
    this.counters.queries++;
    let snapshot;
    try {
      snapshot = store.snapshot({ tenant: request.tenant, fromUs: request.filter.fromUs, toUs: request.filter.toUs, skip: skipTree(request.filter) });
    } catch (error) {
      this.active--;
      respond({ ok: false, shard, code: "bad_request", error: describe(error) });
      return;
    }
    // The counters are read in the same tick as the snapshot: both see the same rows.
    const counterable = request.kind === "aggregate" && request.counters !== false ? counterPlan(request.spec, request.filter) : null;
    const plan = counterable && withNewest(counterable, request.filter, snapshot.newestTs());
    const counted = plan && !store.counts.overflowed && request.kind === "aggregate" ? counterRows(store.counts, request.tenant, request.spec, request.filter, plan) : undefined;
    const pooled = this.connections.pop();
    let running: Running | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    (async () => {
      const connection = pooled ?? (await this.options.duck.connect());
      running = { connection };
      this.running.set(request.id, running);
      timer = setTimeout(() => {
        if (running && !running.stopped) {
          running.stopped = "timeout";
          this.counters.queriesTimedOut++;
          connection.interrupt();
        }
      }, request.timeoutMs);
      try {
        if (counted && plan && request.kind === "aggregate") respond(await runCountedAggregate(connection, this.options.paths, shard, snapshot, request, counted, plan.edges));
        else respond(await runShardQuery(connection, this.options.paths, shard, snapshot, request, { stopped: () => running?.stopped !== undefined }));
      } finally {
        clearTimeout(timer);
        this.running.delete(request.id);
        // An interrupt may land just after the query ended and stay pending on the connection: never reuse one that was interrupted.
        if (running.stopped) connection.closeSync();
        else this.connections.push(connection);
      }
    })()
      .catch((error) => {
        if (running?.stopped === "timeout") respond({ ok: false, shard, code: "timeout", error: `shard ${shard} stopped the query after its ${request.timeoutMs} ms budget` });
        else if (running?.stopped === "cancelled") respond({ ok: false, shard, code: "cancelled", error: "the client went away" });
        else if (error instanceof ReplyTooLargeError) respond({ ok: false, shard, code: "bad_request", error: error.message });
        else respond({ ok: false, shard, code: "failed", error: describe(error) });
      })
      .finally(() => {
        snapshot.release();
        this.active--;
      });
  }
}
