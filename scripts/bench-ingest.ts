// Ingest benchmark (not a test): starts a real node (its own nats-server child),
// publishes FlatBuffers (or NDJSON) batches over NATS for --seconds (full speed, or capped by --rate),
// and reports sustained events/s from first publish to last event searchable,
// publish-ack and ingest-to-searchable latency percentiles (hdr-histogram-js), peak
// RSS, and as the peer figure from the same run, raw JetStream publish throughput
// into a scratch stream on the same server with nothing consuming it.
//
//   bun scripts/bench-ingest.ts [--seconds 60] [--batch 1000] [--inflight 8] [--format flatbuffers|ndjson] [--rate 0]

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import cac from "cac";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import type { NormalizedEvent } from "../src/protocol/event.ts";
import { LEVELS } from "../src/protocol/event.ts";
import { encodeBatch } from "../src/protocol/wal-batch.ts";
import { walSubject } from "../src/protocol/subjects.ts";
import { FlowGate } from "../src/sdk/flow-gate.ts";
import { Children, cpuDelta, cpuSnapshot, histogram, loghubMessages, publishBatch, recordMs, rssBytes, RssSampler, startSluiceNode, threadCpuDelta, threadCpuSeconds, type Histogram, type PublishCounters } from "./bench-lib.ts";

const cli = cac("bench-ingest");
cli.option("--seconds <n>", "publish duration", { default: 60 });
cli.option("--batch <n>", "events per WAL message", { default: 1000 });
// 8 batches (8,000 events, ~2.5 MB) in flight: by Little's law an ack-bounded
// producer's ack latency is in-flight events / throughput, so 32 x 1000 at ~600k/s
// meant ~50 ms p50 of pure queueing in nats-server; 8 keeps JetStream busy (the node,
// not the publisher, is the bottleneck) and measured ack p99 69 ms vs 189 ms at 250k/s.
cli.option("--inflight <n>", "unacknowledged publishes at once", { default: 8 });
cli.option("--wal-max-bytes <n>", "the node's WAL bound: past it publishes are refused and the lanes retry (backpressure); default: the node's");
cli.option("--no-flow", "ignore the node's flow signal (publish even while it asks producers to pause)");
cli.option("--format <f>", "flatbuffers or ndjson", { default: "flatbuffers" });
cli.option("--rate <n>", "events/s cap; 0 = full speed", { default: 0 });
cli.option("--shards <n>", "node shards", { default: 16 });
cli.option("--peer-seconds <n>", "seconds of raw JetStream publish for the peer figure", { default: 5 });
cli.option("--probe-interval-ms <n>", "how often a probe event is published (each is then polled for through the search API every 50 ms)", { default: 100 });
cli.option("--trace", "print the node's flow state and storage queue every second");
cli.option("--json <file>", "also write the result as JSON");
cli.option("--node-prof <dir>", "run the node under Bun's CPU profiler, writing a markdown profile to this directory on exit");
cli.help();
const args = cli.parse().options;
if (args.help) process.exit(0);
const SECONDS = Number(args.seconds);
const BATCH = Number(args.batch);
const INFLIGHT = Number(args.inflight);
const FORMAT = String(args.format);
const RATE = Number(args.rate);
const PROBE_TENANT = "probe";
const PROBE_INTERVAL_MS = Number(args.probeIntervalMs);

// Milliseconds as the histogram gives them, not rounded to 0.01 ms as bench-lib's percentiles are: this report keeps its figures' format.
const percentiles = (h: Histogram) => ({ p50: h.getValueAtPercentile(50) / 1000, p99: h.getValueAtPercentile(99) / 1000, p999: h.getValueAtPercentile(99.9) / 1000, max: h.maxValue / 1000, count: h.totalCount });

// ---- events shaped like the seed, messages from real Loghub lines ----
const messages = loghubMessages();
const services = Array.from({ length: 300 }, (_, index) => (index === 0 ? "payment-service" : `service-${index}`));
let randomState = 42;
const random = () => ((randomState = (randomState * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
const hex = (length: number) => Array.from({ length }, () => Math.floor(random() * 16).toString(16)).join("");

function makeEvents(count: number, nowUs: number): NormalizedEvent[] {
  return Array.from({ length: count }, (_, index) => ({
    timestampUs: nowUs - Math.floor(random() * 1_000_000),
    level: LEVELS[Math.min(5, Math.floor(random() * random() * 6) + 1)],
    // A dominant service: a third of the traffic.
    service: random() < 0.33 ? services[0] : services[Math.floor(random() * services.length)],
    hostname: `host-${Math.floor(random() * 2000)}`,
    traceId: hex(32),
    spanId: hex(16),
    message: messages[(index * 7919 + Math.floor(random() * messages.length)) % messages.length].slice(0, 200),
    metadata: `{"user_id":${Math.floor(random() * 100000)},"duration_ms":${Math.floor(random() * 900)}}`,
  }));
}

function encode(events: NormalizedEvent[]): Uint8Array {
  if (FORMAT === "flatbuffers") return encodeBatch(events);
  return new TextEncoder().encode(events.map((event) => JSON.stringify({ timestamp: event.timestampUs, level: event.level, service: event.service, hostname: event.hostname, trace_id: event.traceId, span_id: event.spanId, message: event.message, metadata: JSON.parse(event.metadata) })).join("\n"));
}

// ---- start a node ----
const children = new Children((line) => console.error(line));
const dataDir = mkdtempSync(join(tmpdir(), "sluice-bench-"));
// Registered before the node's stop, so it runs after it (cleanup goes in reverse order).
children.onCleanup(async () => rmSync(dataDir, { recursive: true, force: true }));
const node = await startSluiceNode({
  dataDir,
  shards: Number(args.shards),
  children,
  wrap: process.env.BENCH_NODE_NICE ? ["nice", "-n", process.env.BENCH_NODE_NICE] : [],
  runtimeArgs: args.nodeProf ? ["--cpu-prof-md", `--cpu-prof-dir=${resolve(String(args.nodeProf))}`] : [],
  extraArgs: [...(args.walMaxBytes ? ["--wal-max-bytes", String(args.walMaxBytes)] : []), "--api-keys", `benchkey-default:default,benchkey-probe:${PROBE_TENANT}`],
  readyTimeoutMs: 60_000,
});
const nc = await connect({ servers: node.natsUrl });
// The producers' side of flow control, as the SDK producer does it: wait while the node asks to pause.
const gate = args.flow === false ? undefined : FlowGate.listen(nc, (error) => console.error(`malformed flow signal: ${error}`));
const js = jetstream(nc);
const api = (path: string, key: string) => fetch(`${node.httpUrl}${path}`, { headers: { authorization: `Bearer ${key}` } }).then((response) => response.json() as Promise<Record<string, any>>);

const nowUs = Date.now() * 1000;
const TEMPLATES = 64;
console.error(`generating ${TEMPLATES} batches of ${BATCH} events (${FORMAT}) …`);
const payloads = Array.from({ length: TEMPLATES }, () => encode(makeEvents(BATCH, nowUs)));
const payloadBytes = payloads.reduce((sum, payload) => sum + payload.byteLength, 0) / TEMPLATES;

// ---- peer figure: raw JetStream publish on the same server, nothing consuming ----
async function rawJetStream(seconds: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: "BENCH_RAW", subjects: ["bench.raw.>"], storage: StorageType.File, retention: RetentionPolicy.Limits, max_bytes: 8 * 1024 ** 3 });
  let acked = 0;
  const end = Date.now() + seconds * 1000;
  const started = performance.now();
  let index = 0;
  const lanes = Array.from({ length: INFLIGHT }, async () => {
    while (Date.now() < end) {
      await js.publish(`bench.raw.${index % 16}`, payloads[index++ % TEMPLATES]);
      acked += BATCH;
    }
  });
  await Promise.all(lanes);
  const rate = acked / ((performance.now() - started) / 1000);
  await jsm.streams.delete("BENCH_RAW");
  return rate;
}
const peerRate = Number(args.peerSeconds) > 0 ? await rawJetStream(Number(args.peerSeconds)) : 0;
console.error(`peer: raw JetStream publish ${Math.round(peerRate).toLocaleString()} events/s`);

// ---- the run ----
const ackLatency = histogram();
const visibleLatency = histogram();
/** How long each probe search poll took: the query's share of ingest-to-searchable. */
const pollLatency = histogram();
/** Events acked; publishes the WAL refused as full and the lanes retried; publishes given up. */
const counters: PublishCounters = { ackedEvents: 0, refusedPublishes: 0, failedPublishes: 0 };
const windows: { t: number; acked: number; rssMb: number }[] = [];
const started = performance.now();
const end = Date.now() + SECONDS * 1000;
const cpuAtStart = cpuSnapshot({ node: node.pid, nats_server: node.natsPid });
const nodeThreadsAtStart = threadCpuSeconds(node.pid);
let stopPublishing = false;

const rss = new RssSampler();
rss.watch("node", node.pid);
rss.watch("nats_server", node.natsPid);
const traceTimer = args.trace
  ? setInterval(() => {
      api(`/api/v1/system/health`, "benchkey-default").then(
        (health) => {
          const shards = (health.actors ?? []).filter((actor: any) => String(actor.name).startsWith("partition-"));
          const worst = shards.reduce((max: number, actor: any) => Math.max(max, actor.snapshot?.lagMs ?? actor.lagMs ?? 0), 0);
          console.error(`  trace t=${((performance.now() - started) / 1000).toFixed(1)}s flow=${health.flow?.state} lag=${health.flow?.lagMs}ms worst=${worst} queue=${JSON.stringify(health.storage_utilization?.work_queue?.waiting)} memtable_rows=${health.storage_utilization?.memtable_rows} work_ms=${JSON.stringify(health.storage_utilization?.work_ms)} counts=${JSON.stringify(health.storage_utilization?.work_counts)} pending=${shards.reduce((sum: number, actor: any) => sum + (actor.store?.pendingRows ?? 0), 0)} held=${shards.reduce((sum: number, actor: any) => sum + (actor.pendingAcks ?? 0), 0)} probes_waiting=${probes.size}`);
        },
        (error) => console.error(`  trace failed: ${error}`),
      );
    }, 1000)
  : undefined;
let lastWindowAcked = 0;
const windowTimer = setInterval(() => {
  windows.push({ t: Math.round((performance.now() - started) / 1000), acked: counters.ackedEvents - lastWindowAcked, rssMb: Math.round(rssBytes(node.pid) / 2 ** 20) });
  lastWindowAcked = counters.ackedEvents;
  const last = windows[windows.length - 1];
  console.error(`  t=${last.t}s  ${Math.round(last.acked / 5).toLocaleString()} events/s acked  node RSS ${last.rssMb} MB`);
}, 5000);

// Probes: one event each in the probe tenant, found by trace id through the HTTP search API.
const probes = new Map<string, number>();
/** Every probe's send time into the run and latency; the slowest are reported, to tell a warm-up stall from a steady one. */
const slowestProbes: { at_s: number; ms: number }[] = [];
let probeCounter = 0;
const probeTimer = setInterval(() => {
  if (stopPublishing) return;
  const traceId = `probe-${++probeCounter}`;
  const event: NormalizedEvent = { timestampUs: Date.now() * 1000, level: "INFO", service: "probe", hostname: "bench", traceId, spanId: "", message: "probe", metadata: "{}" };
  const sentAt = performance.now();
  js.publish(walSubject(PROBE_TENANT, probeCounter % Number(args.shards)), encodeBatch([event])).then(
    () => probes.set(traceId, sentAt),
    (error) => console.error(`probe publish failed: ${error}`),
  );
}, PROBE_INTERVAL_MS);
let polling = true;
const poller = (async () => {
  while (polling || probes.size > 0) {
    if (probes.size > 0) {
      // Ask only for probes not found yet (probe event time = its publish time), so the
      // poll stays a small query instead of returning every probe of the run.
      const oldestUs = Math.floor((performance.timeOrigin + Math.min(...probes.values())) * 1000) - 1_000_000;
      const pollStarted = performance.now();
      const result = await api(`/api/v1/logs/search?limit=1000&service=probe&from=${oldestUs}`, "benchkey-probe");
      const now = performance.now();
      recordMs(pollLatency, now - pollStarted);
      for (const log of result.logs ?? []) {
        const sentAt = probes.get(log.trace_id);
        if (sentAt !== undefined) {
          recordMs(visibleLatency, now - sentAt);
          slowestProbes.push({ at_s: Math.round((sentAt - started) / 100) / 10, ms: Math.round(now - sentAt) });
          probes.delete(log.trace_id);
        }
      }
    }
    await Bun.sleep(50);
    if (!polling && performance.now() - started > (SECONDS + 120) * 1000) break;
  }
})();

// Publishers. Each lane is a closed loop: one batch unacknowledged at a time, so all
// lanes together hold at most --inflight batches, the bound a real producer has (it
// waits for the PubAck before reusing its buffer). With --rate, sends follow a fixed
// schedule: a lane takes the next slot (one batch every BATCH / RATE seconds across
// all lanes) and sleeps once until that slot's time, rather than polling; a lane
// behind schedule sends at once. Ack latency is measured from the actual send, so
// time spent waiting for a slot is not counted as latency.
let payloadIndex = 0;
let nextSlot = 0;
const slotMs = RATE > 0 ? (BATCH / RATE) * 1000 : 0;
const lanes = Array.from({ length: INFLIGHT }, async () => {
  while (Date.now() < end) {
    if (RATE > 0) {
      const dueMs = started + nextSlot++ * slotMs;
      const waitMs = dueMs - performance.now();
      if (waitMs >= 1) await Bun.sleep(waitMs);
      if (Date.now() >= end) break;
    }
    if (gate && !gate.isOpen) await gate.wait();
    if (Date.now() >= end) break;
    const payload = payloads[payloadIndex++ % TEMPLATES];
    const subject = walSubject("default", payloadIndex % Number(args.shards));
    // A full WAL refuses the publish (backpressure): publishBatch waits briefly and sends the
    // same batch again, up to a minute past the end, without waiting on the gate in between
    // (none given: the gate was waited on above).
    await publishBatch(js, undefined, subject, payload, BATCH, counters, { onAck: (ms) => recordMs(ackLatency, ms), retryUntil: end + 60_000 });
  }
});
await Promise.all(lanes);
stopPublishing = true;
const publishEnded = performance.now();
console.error(`published ${counters.ackedEvents.toLocaleString()} events; waiting until all are searchable …`);

// Sustained: until the last acked event is searchable (exact count through the aggregate API).
let searchable = 0;
const drainDeadline = Date.now() + 300_000;
while (Date.now() < drainDeadline) {
  const result = await api(`/api/v1/logs/aggregate?group_by=level`, "benchkey-default");
  if (!result.aggregations) console.error(`count query failed: ${JSON.stringify(result).slice(0, 300)}`);
  searchable = Object.values((result.aggregations ?? {}) as Record<string, number>).reduce((sum, count) => sum + count, 0);
  if (searchable >= counters.ackedEvents) break;
  await Bun.sleep(100);
}
const allSearchable = performance.now();
const cpu = cpuDelta(cpuAtStart);
const tenths = (seconds: number) => Math.round(seconds * 10) / 10;
const cpuUsed = { node: tenths(cpu.processes.node), nats_server: tenths(cpu.processes.nats_server), bench: tenths(cpu.bench) };
const nodeThreadCpu = threadCpuDelta(threadCpuSeconds(node.pid), nodeThreadsAtStart);
polling = false;
await poller;
const peakRssMb = rss.takePeaksMb();
rss.stop();
clearInterval(windowTimer);
if (traceTimer) clearInterval(traceTimer);
clearInterval(probeTimer);
const health = await api(`/api/v1/system/health`, "benchkey-default");
await nc.close();
await children.cleanup();

const result = {
  format: FORMAT,
  batch: BATCH,
  inflight: INFLIGHT,
  wal_full_refusals_retried: counters.refusedPublishes,
  flow: gate ? { pauses_heard: gate.stats().pauses, lane_waits: gate.stats().waits, lane_wait_ms_total: gate.stats().waitedMs, node: health.flow } : "ignored (--no-flow)",
  seconds: SECONDS,
  payload_bytes_per_batch: Math.round(payloadBytes),
  events_acked: counters.ackedEvents,
  events_searchable: searchable,
  publish_events_per_s: Math.round(counters.ackedEvents / ((publishEnded - started) / 1000)),
  sustained_events_per_s: Math.round(counters.ackedEvents / ((allSearchable - started) / 1000)),
  drain_after_publish_s: Math.round((allSearchable - publishEnded) / 100) / 10,
  publish_ack_ms: percentiles(ackLatency),
  ingest_to_searchable_ms: percentiles(visibleLatency),
  search_poll_ms: percentiles(pollLatency),
  peak_rss_mb: { node: peakRssMb.node ?? 0, nats_server: peakRssMb.nats_server ?? 0 },
  peer_raw_jetstream_events_per_s: Math.round(peerRate),
  cpu_seconds_first_publish_to_searchable: cpuUsed,
  node_cpu_seconds_by_thread: nodeThreadCpu,
  storage_work_ms: health.storage_utilization?.work_ms,
  segments: health.storage_utilization?.segments,
  segment_bytes_per_event: health.storage_utilization?.segment_rows ? Math.round((health.storage_utilization.segment_bytes / health.storage_utilization.segment_rows) * 10) / 10 : null,
  slowest_probes: slowestProbes.sort((a, b) => b.ms - a.ms).slice(0, 10),
  windows_5s_events_per_s: windows.map((window) => Math.round(window.acked / 5)),
};
console.log(JSON.stringify(result, null, 2));
console.log(`
| figure | value |
| --- | --- |
| sustained events/s (first publish -> last searchable) | ${result.sustained_events_per_s.toLocaleString()} |
| publish events/s (acked) | ${result.publish_events_per_s.toLocaleString()} |
| publishes refused by a full WAL and retried | ${result.wal_full_refusals_retried.toLocaleString()} |
| flow: pauses heard / node time paused ms | ${typeof result.flow === "string" ? result.flow : `${result.flow.pauses_heard} / ${result.flow.node?.pausedMs}`} |
| peer: raw JetStream publish, same server, same run | ${result.peer_raw_jetstream_events_per_s.toLocaleString()} |
| publish ack p50 / p99 / p999 ms | ${result.publish_ack_ms.p50} / ${result.publish_ack_ms.p99} / ${result.publish_ack_ms.p999} |
| ingest-to-searchable p50 / p99 / p999 ms | ${result.ingest_to_searchable_ms.p50} / ${result.ingest_to_searchable_ms.p99} / ${result.ingest_to_searchable_ms.p999} (${result.ingest_to_searchable_ms.count} probes) |
| probe search poll p50 / p99 ms | ${result.search_poll_ms.p50} / ${result.search_poll_ms.p99} |
| peak RSS node / nats-server MB | ${result.peak_rss_mb.node} / ${result.peak_rss_mb.nats_server} |
| CPU s node / nats-server / bench (first publish -> last searchable) | ${cpuUsed.node} / ${cpuUsed.nats_server} / ${cpuUsed.bench} |
| segment bytes per event | ${result.segment_bytes_per_event} |`);
if (args.json) await Bun.write(String(args.json), JSON.stringify(result, null, 2));
process.exit(searchable === counters.ackedEvents ? 0 : 1);
