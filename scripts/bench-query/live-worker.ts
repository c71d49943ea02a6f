// The live ingest worker thread (started by live.ts): cycles a pool of live events
// restamped with the clock, publishes them to Sluice's WAL on a rate schedule honouring
// the flow signal, and hands ClickHouse the same events in one INSERT a second.

import { parentPort, workerData } from "node:worker_threads";
import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { encodeBatch } from "../../src/protocol/wal-batch.ts";
import { walSubject } from "../../src/protocol/subjects.ts";
import { FlowGate } from "../../src/sdk/flow-gate.ts";
import { publishBatch, type PublishCounters } from "../bench-lib.ts";
import { insertTsv } from "../clickhouse/server.ts";
import { buildCatalog, liveEvents, toTsv } from "../gen-dataset.ts";
import type { LiveStats, LiveWorkerData } from "./live.ts";

/** Distinct live events cycled through (restamped with the clock as they are sent): ~2 s of ingest at 100,000/s. */
const LIVE_POOL_EVENTS = 200_000;
const LIVE_BATCH = 1000;
const LIVE_LANES = 4;
/** ClickHouse gets the live events in one INSERT per this period, as a log shipper would batch them. */
const LIVE_CLICKHOUSE_PERIOD_MS = 1000;

async function liveWorker(data: LiveWorkerData): Promise<void> {
  const port = parentPort!;
  const factory = liveEvents(buildCatalog(data.seed), data.seed);
  const pool = Array.from({ length: LIVE_POOL_EVENTS }, () => factory.next(0));
  const nc = data.natsUrl ? await connect({ servers: data.natsUrl, maxReconnectAttempts: -1 }) : undefined;
  const gate = nc ? FlowGate.listen(nc) : undefined;
  const js = nc ? jetstream(nc) : undefined;
  const counters: PublishCounters = { ackedEvents: 0, refusedPublishes: 0, failedPublishes: 0 };
  const clickhouse = { rows: 0, failures: 0, insertMsMax: 0, pending: [] as string[], pendingRows: 0 };
  let stopping = false;
  port.on("message", (message) => {
    if (message === "stop") stopping = true;
  });
  const stats = (type: LiveStats["type"]): LiveStats => ({ type, at: Date.now(), acked: counters.ackedEvents, refused: counters.refusedPublishes, failed: counters.failedPublishes, flowWaits: gate?.stats().waits ?? 0, clickhouseRows: clickhouse.rows, clickhouseFailures: clickhouse.failures, clickhouseInsertMsMax: Math.round(clickhouse.insertMsMax) });
  port.postMessage(stats("ready"));
  const statsTimer = setInterval(() => port.postMessage(stats("stats")), 1000);
  const started = performance.now();
  const slotMs = (LIVE_BATCH / data.rate) * 1000;
  let slot = 0;
  let cursor = 0;
  // Same schedule as bench-ingest --rate: a lane takes the next slot and sleeps until it is due.
  const lanes = Array.from({ length: LIVE_LANES }, async () => {
    while (!stopping) {
      const waitMs = started + slot++ * slotMs - performance.now();
      if (waitMs >= 1) await Bun.sleep(waitMs);
      if (stopping) break;
      const batch = pool.slice(cursor, cursor + LIVE_BATCH);
      cursor = (cursor + LIVE_BATCH) % LIVE_POOL_EVENTS;
      const nowUs = Date.now() * 1000;
      batch.forEach((event, index) => (event.timestampUs = nowUs - (LIVE_BATCH - index) * 10));
      if (data.clickhouseUrl) {
        clickhouse.pending.push(toTsv(batch));
        clickhouse.pendingRows += batch.length;
      }
      if (js) await publishBatch(js, gate, walSubject("default", slot % data.shards), encodeBatch(batch), batch.length, counters);
    }
  });
  const inserter = (async () => {
    if (!data.clickhouseUrl) return;
    while (!stopping || clickhouse.pending.length > 0) {
      const body = clickhouse.pending.splice(0).join("");
      const rows = clickhouse.pendingRows;
      clickhouse.pendingRows = 0;
      if (rows > 0) {
        const insertStarted = performance.now();
        try {
          await insertTsv(data.clickhouseUrl, body);
          clickhouse.rows += rows;
        } catch (error) {
          clickhouse.failures++;
          console.error(`live clickhouse insert failed: ${error}`);
        }
        clickhouse.insertMsMax = Math.max(clickhouse.insertMsMax, performance.now() - insertStarted);
      }
      if (!stopping) await Bun.sleep(Math.max(0, LIVE_CLICKHOUSE_PERIOD_MS - (performance.now() - started) % LIVE_CLICKHOUSE_PERIOD_MS));
    }
  })();
  await Promise.all(lanes);
  await inserter;
  clearInterval(statsTimer);
  gate?.close();
  await nc?.close();
  port.postMessage(stats("done"));
}

await liveWorker(workerData as LiveWorkerData);
