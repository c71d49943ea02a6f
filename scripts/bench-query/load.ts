// Loading the dataset files into each system at full speed: Sluice over NATS (the
// FlatBuffers batches, honouring the flow signal, until the aggregate count says every
// event is searchable), ClickHouse over HTTP (the TSV rows, a chunk per INSERT).

import { connect } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { walSubject } from "../../src/protocol/subjects.ts";
import { FlowGate } from "../../src/sdk/flow-gate.ts";
import { bucketTotal, cpuDelta, cpuSnapshot, getJson, publishBatch, type PublishCounters, type SluiceNode } from "../bench-lib.ts";
import { clickhouseQuery, createSchema, dropSchema, insertTsv, type ClickHouseServer } from "../clickhouse/server.ts";
import { BATCH_EVENTS, chunkEventCount, readFlatbuffersChunk, readTsvChunk, type DatasetSummary } from "../gen-dataset.ts";
import type { LoadRecord } from "./manifest.ts";
import type { BenchOptions } from "./options.ts";

/** Events of each batch of a chunk: CHUNK_EVENTS / BATCH_EVENTS batches of BATCH_EVENTS, the last chunk's last batch shorter. */
function batchEvents(summary: DatasetSummary, chunk: number, batch: number): number {
  return Math.min(BATCH_EVENTS, chunkEventCount(summary.events, chunk) - batch * BATCH_EVENTS);
}

/** Polls the aggregate count of [start, end) until it reaches the dataset's events; returns the count seen last. */
export async function waitSearchable(node: SluiceNode, summary: DatasetSummary, timeoutMs: number, log: (line: string) => void): Promise<number> {
  const events = summary.events;
  const deadline = Date.now() + timeoutMs;
  let lastLog = 0;
  for (;;) {
    const answer = await getJson(node.httpUrl, `/api/v1/logs/aggregate?group_by=level&from=${summary.start_us}&to=${summary.end_us}`).catch((error) => ({ error: String(error) }));
    const count = "buckets" in answer ? bucketTotal(answer.buckets) : -1;
    if (count >= events) return count;
    if (Date.now() > deadline) return count;
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`  waiting until searchable: ${count.toLocaleString()} / ${events.toLocaleString()}${"error" in answer ? ` (${answer.error})` : ""}`);
    }
    await Bun.sleep(200);
  }
}

export async function loadSluice(node: SluiceNode, datasetDir: string, summary: DatasetSummary, options: BenchOptions, log: (line: string) => void): Promise<LoadRecord> {
  const nc = await connect({ servers: node.natsUrl, maxReconnectAttempts: -1 });
  const gate = FlowGate.listen(nc, (error) => log(`malformed flow signal: ${error}`));
  const js = jetstream(nc);
  const counters: PublishCounters = { ackedEvents: 0, refusedPublishes: 0, failedPublishes: 0 };
  const started = performance.now();
  const cpuBefore = cpuSnapshot({ node: node.pid, nats_server: node.natsPid });
  async function* batches(): AsyncGenerator<{ payload: Uint8Array; events: number }> {
    let next = readFlatbuffersChunk(datasetDir, 0);
    for (let chunk = 0; chunk < summary.chunks; chunk++) {
      const current = await next;
      // Read and decompress the next chunk while this one is published.
      if (chunk + 1 < summary.chunks) next = readFlatbuffersChunk(datasetDir, chunk + 1);
      for (let batch = 0; batch < current.length; batch++) yield { payload: current[batch], events: batchEvents(summary, chunk, batch) };
    }
  }
  const source = batches();
  let lastAcked = 0;
  let lastAt = started;
  const progress = setInterval(() => {
    const now = performance.now();
    const rate = (counters.ackedEvents - lastAcked) / ((now - lastAt) / 1000);
    const average = counters.ackedEvents / ((now - started) / 1000);
    log(`  sluice load: ${counters.ackedEvents.toLocaleString()} / ${summary.events.toLocaleString()} acked, ${Math.round(rate).toLocaleString()} events/s (mean ${Math.round(average).toLocaleString()}), ETA ${Math.round((summary.events - counters.ackedEvents) / Math.max(1, average))} s, flow waits ${gate.stats().waits}`);
    lastAcked = counters.ackedEvents;
    lastAt = now;
  }, 5000);
  let published = 0;
  const lanes = Array.from({ length: options.inflight }, async () => {
    for (let item = await source.next(); !item.done; item = await source.next()) {
      await publishBatch(js, gate, walSubject("default", published++ % options.shards), item.value.payload, item.value.events, counters);
    }
  });
  try {
    await Promise.all(lanes);
  } finally {
    clearInterval(progress);
  }
  const publishSeconds = (performance.now() - started) / 1000;
  log(`  sluice load: published ${counters.ackedEvents.toLocaleString()} events in ${publishSeconds.toFixed(1)} s; waiting until all are searchable …`);
  const searchable = await waitSearchable(node, summary, 900_000, log);
  const seconds = (performance.now() - started) / 1000;
  const flow = gate.stats();
  gate.close();
  await nc.close();
  if (counters.failedPublishes > 0 || searchable !== summary.events) throw new Error(`sluice load incomplete: ${counters.failedPublishes} publishes failed, ${searchable} of ${summary.events} events searchable (more means the data dir held events already)`);
  const cpu = cpuDelta(cpuBefore);
  return {
    loaded_at: new Date().toISOString(),
    events: summary.events,
    seconds: Math.round(seconds * 10) / 10,
    events_per_s: Math.round(summary.events / seconds),
    publish_seconds: Math.round(publishSeconds * 10) / 10,
    publish_events_per_s: Math.round(summary.events / publishSeconds),
    wal_full_refusals_retried: counters.refusedPublishes,
    flow_pauses_heard: flow.pauses,
    flow_lane_waits: flow.waits,
    cpu_seconds: { node: Math.round(cpu.processes.node), nats_server: Math.round(cpu.processes.nats_server), bench: Math.round(cpu.bench), other_processes: Math.round(cpu.other) },
  };
}

export async function loadClickHouse(server: ClickHouseServer, datasetDir: string, summary: DatasetSummary, log: (line: string) => void): Promise<LoadRecord> {
  await dropSchema(server.httpUrl);
  await createSchema(server.httpUrl);
  const started = performance.now();
  const cpuBefore = cpuSnapshot({ clickhouse_server: server.pid });
  let inserted = 0;
  let nextChunk = 0;
  const progress = setInterval(() => {
    const average = inserted / ((performance.now() - started) / 1000);
    log(`  clickhouse load: ${inserted.toLocaleString()} / ${summary.events.toLocaleString()} rows, mean ${Math.round(average).toLocaleString()} rows/s, ETA ${Math.round((summary.events - inserted) / Math.max(1, average))} s`);
  }, 5000);
  // Two INSERTs at once, one per core, each a whole chunk (250,000 rows) as ClickHouse likes them.
  const lanes = Array.from({ length: 2 }, async () => {
    for (let chunk = nextChunk++; chunk < summary.chunks; chunk = nextChunk++) {
      await insertTsv(server.httpUrl, await readTsvChunk(datasetDir, chunk));
      inserted += chunkEventCount(summary.events, chunk);
    }
  });
  try {
    await Promise.all(lanes);
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - started) / 1000;
  const count = Number((await clickhouseQuery(server.httpUrl, "SELECT count() FROM logs")).trim());
  if (count !== summary.events) throw new Error(`clickhouse load incomplete: ${count} rows, expected ${summary.events}`);
  const cpu = cpuDelta(cpuBefore);
  return { loaded_at: new Date().toISOString(), events: count, seconds: Math.round(seconds * 10) / 10, events_per_s: Math.round(count / seconds), cpu_seconds: { clickhouse_server: Math.round(cpu.processes.clickhouse_server), bench: Math.round(cpu.bench), other_processes: Math.round(cpu.other) } };
}
