// The systems under test of the ingest comparison, each behind one interface: start
// its server (a Sluice node with its own nats-server, Debian's clickhouse-server, a
// throwaway PostgreSQL cluster), say where the load goes and how a probe travels, count
// what is queryable, name its processes (whose memory and CPU phase.ts reads), read its
// bytes on disk, wait for its background work, and stop it (and remove its data)
// afterwards.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bucketTotal, directoryBytes, getJson, settleUntilQuiet, startSluiceNode, storageWorkPending, threadCpuSeconds, type Children } from "../bench-lib.ts";
import { clickhouseMerges, clickhouseQuery, clickhouseStorage, createSchema, sqlString, startClickHouse } from "../clickhouse/server.ts";
import { postgresSchemaStatements, startPostgres } from "../postgres/server.ts";
import { pgString } from "../postgres/wire.ts";
import type { LoadTarget, SystemName } from "./load-messages.ts";
import type { CompareOptions } from "./options.ts";
import { clickhouseProbeChannel, httpProbeChannel, postgresProbeChannel, PROBE_SERVICE, sdkProbeChannel, type ProbeChannel } from "./probes.ts";
import type { Disk } from "./report.ts";

/** API keys of the node: the load's tenant and the probes' own (so a probe search reads only probes). */
const LOAD_KEY = "bench-load";
const PROBE_KEY = "bench-probe";
const PROBE_TENANT = "probe";

export interface SystemUnderTest {
  system: SystemName;
  /** Server name and version, for the report. */
  version: string;
  /** The server's own log when the benchmark keeps one (the Sluice node's): removed after a clean run, kept when it fails or is interrupted. */
  logPath?: string;
  target: LoadTarget;
  probeChannel(): Promise<ProbeChannel>;
  /** True when an acked event is queryable at once (PostgreSQL's COPY commits), so nothing is polled. */
  queryableAtAck: boolean;
  /** Load events queryable now (probes left out). */
  countQueryable(): Promise<number>;
  /** The server's processes by name, whose memory and CPU are measured. */
  processes: Readonly<Record<string, number>>;
  /**
   * True when each process stands for itself and its children (PostgreSQL: a postmaster
   * and a backend per connection): memory is then their PSS (every backend maps the same
   * shared buffers), and CPU includes the children's.
   */
  processTrees: boolean;
  /** CPU seconds per thread name of the server's main process, when it is worth reading (the Sluice node). */
  threadCpuSeconds?(): Record<string, number>;
  /** Cumulative counters of the server's own work (Sluice: storage work ms and counts, flow pauses), differenced per phase. */
  workCounters?(): Promise<Record<string, number>>;
  /** Waits up to `maxSeconds` for background work (Sluice's seals and compactions, ClickHouse's merges) to end. */
  settle(maxSeconds: number): Promise<Record<string, unknown>>;
  disk(): Promise<Disk>;
  stop(): Promise<void>;
}

const perEvent = (bytes: number, rows: number) => (rows > 0 ? Math.round((bytes / rows) * 10) / 10 : 0);

async function startSluice(system: "sdk-flatbuffers" | "sdk-ndjson" | "http", options: CompareOptions, children: Children): Promise<SystemUnderTest> {
  const dataDir = mkdtempSync(join(tmpdir(), `sluice-bench-compare-${system}-`));
  // The node's output: kept if the run fails or is interrupted (runSystem removes it after a clean one).
  const logPath = `${dataDir}.log`;
  children.onCleanup(async () => rmSync(dataDir, { recursive: true, force: true }));
  const node = await startSluiceNode({ dataDir, shards: options.shards, children, logPath, extraArgs: ["--api-keys", `${LOAD_KEY}:default,${PROBE_KEY}:${PROBE_TENANT}`], readyTimeoutMs: 60_000, runtimeArgs: options.nodeProf ? ["--cpu-prof", `--cpu-prof-dir=${options.nodeProf}`] : [] });
  const health = () => getJson(node.httpUrl, "/api/v1/system/health", LOAD_KEY);
  const version = `nats-server ${(await health()).nats?.version ?? "?"}`;
  const target: LoadTarget =
    system === "http"
      ? { system, httpUrl: node.httpUrl, apiKey: LOAD_KEY, eventsPerBody: options.httpEventsPerBody, inFlight: options.httpInFlight, gzip: options.httpGzip }
      : { system, natsUrl: node.natsUrl, inFlightBatchesMax: options.sdkInFlight };
  return {
    system,
    version: `Sluice (Bun ${Bun.version}, ${version})`,
    logPath,
    target,
    async probeChannel() {
      if (system === "http") return httpProbeChannel({ httpUrl: node.httpUrl, apiKey: PROBE_KEY });
      return sdkProbeChannel({ natsUrl: node.natsUrl, httpUrl: node.httpUrl, apiKey: PROBE_KEY, tenant: PROBE_TENANT, format: system === "sdk-ndjson" ? "ndjson" : "flatbuffers" });
    },
    queryableAtAck: false,
    countQueryable: async () => bucketTotal((await getJson(node.httpUrl, "/api/v1/logs/aggregate?group_by=level", LOAD_KEY)).buckets),
    processes: { node: node.pid, nats_server: node.natsPid },
    processTrees: false,
    threadCpuSeconds: () => threadCpuSeconds(node.pid),
    async workCounters() {
      const report = await health();
      const storage = report.storage_utilization ?? {};
      const ms = (storage.work_ms ?? {}) as Record<string, number>;
      const counts = (storage.work_counts ?? {}) as Record<string, number>;
      return {
        ...Object.fromEntries(Object.entries(ms).map(([kind, value]) => [`storage_${kind}_ms`, value])),
        ...Object.fromEntries(Object.entries(counts).map(([kind, value]) => [`storage_${kind}`, value])),
        flow_pauses: report.flow?.pauses ?? 0,
        flow_paused_ms: report.flow?.pausedMs ?? 0,
        http_paused_429: report.ingest?.paused ?? 0,
        http_overloaded_429: report.ingest?.overloaded ?? 0,
      };
    },
    settle: (maxSeconds) =>
      settleUntilQuiet(maxSeconds, async () => {
        const pending = storageWorkPending(await health());
        return { idle: pending === 0, state: { storage_work: pending } };
      }),
    async disk() {
      const storage = (await health()).storage_utilization ?? {};
      return {
        bytes: storage.segment_bytes ?? 0,
        rows: storage.segment_rows ?? 0,
        bytes_per_event: perEvent(storage.segment_bytes ?? 0, storage.segment_rows ?? 0),
        detail: { measured: "Parquet segments (rows still in memtables are not in them yet)", segments: storage.segments, memtable_rows: storage.memtable_rows, data_dir_bytes: directoryBytes(dataDir), wal_dir_bytes: directoryBytes(join(dataDir, "nats")) },
      };
    },
    async stop() {
      await node.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startClickHouseSystem(options: CompareOptions, children: Children): Promise<SystemUnderTest> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-bench-compare-clickhouse-"));
  children.onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
  const server = await startClickHouse(dir, children);
  await createSchema(server.httpUrl, "ingest-schema.sql");
  const query = (sql: string) => clickhouseQuery(server.httpUrl, sql).then((text) => text.trim());
  const version = await query("SELECT version()");
  return {
    system: "clickhouse",
    version: `ClickHouse ${version}`,
    target: { system: "clickhouse", httpUrl: server.httpUrl, rowsPerInsert: options.clickhouseRowsPerInsert, inFlight: options.clickhouseInFlight },
    probeChannel: async () => clickhouseProbeChannel(server.httpUrl),
    queryableAtAck: false,
    countQueryable: async () => Number(await query(`SELECT count() FROM logs WHERE service != ${sqlString(PROBE_SERVICE)}`)),
    processes: { clickhouse_server: server.pid },
    processTrees: false,
    settle: (maxSeconds) =>
      settleUntilQuiet(maxSeconds, async () => {
        const merges = await clickhouseMerges(server.httpUrl);
        return { idle: merges === 0, state: { merges } };
      }),
    async disk() {
      const { parts, rows, bytes } = (await clickhouseStorage(server.httpUrl)).logs ?? { parts: 0, rows: 0, bytes: 0 };
      return { bytes, rows, bytes_per_event: perEvent(bytes, rows), detail: { measured: "active parts of the table (bytes_on_disk), probes included", parts, data_dir_bytes: directoryBytes(server.dataDir) } };
    },
    async stop() {
      // Its data is deleted next, so nothing is gained by the ~10 s of a graceful shutdown.
      await server.stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function startPostgresSystem(options: CompareOptions, children: Children): Promise<SystemUnderTest> {
  const server = await startPostgres(children);
  const admin = await server.connect();
  for (const statement of postgresSchemaStatements()) await admin.query(statement);
  const version = (await admin.query("SHOW server_version")).rows[0]?.[0] ?? "?";
  const scalar = async (sql: string) => Number((await admin.query(sql)).rows[0]?.[0] ?? 0);
  return {
    system: "postgres",
    version: `PostgreSQL ${version}`,
    target: { system: "postgres", host: server.host, port: server.port, rowsPerCopy: options.postgresRowsPerCopy, inFlight: options.postgresInFlight },
    probeChannel: async () => postgresProbeChannel(await server.connect(), await server.connect()),
    queryableAtAck: true,
    countQueryable: () => scalar(`SELECT count(*) FROM logs WHERE service <> ${pgString(PROBE_SERVICE)}`),
    processes: { postgres: server.pid },
    processTrees: true,
    settle: async () => ({ seconds: 0, quiet: true }),
    async disk() {
      const rows = await scalar("SELECT count(*) FROM logs");
      const bytes = await scalar("SELECT pg_total_relation_size('logs')");
      const indexes = await scalar("SELECT pg_indexes_size('logs')");
      return { bytes, rows, bytes_per_event: perEvent(bytes, rows), detail: { measured: "pg_total_relation_size (heap, TOAST, indexes; WAL not counted), probes included", index_bytes: indexes, data_dir_bytes: directoryBytes(server.dataDir) } };
    },
    async stop() {
      await admin.close();
      await server.stop();
    },
  };
}

export function startSystem(system: SystemName, options: CompareOptions, children: Children): Promise<SystemUnderTest> {
  switch (system) {
    case "clickhouse":
      return startClickHouseSystem(options, children);
    case "postgres":
      return startPostgresSystem(options, children);
    default:
      return startSluice(system, options, children);
  }
}
