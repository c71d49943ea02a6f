// Node configuration: one parser from named defaults, flags and environment to a
// frozen, validated object. Only entry points read process.env and argv.

import { availableParallelism } from "node:os";
import { COMPACTION_IDLE_AFTER_MS } from "../storage/limits.ts";

export interface NodeOptions {
  httpHost: string;
  /** 0 picks a free port; the node prints the one it got. */
  httpPort: number;
  dataDir: string;
  /** Use this NATS server (or comma-separated servers of one cluster) instead of starting a child. */
  natsUrl?: string;
  /** This node's name in the cluster; empty: the one saved in the data directory (made up on first start). */
  nodeId?: string;
  /** Where sealed segments live: "local" (this node's disk only) or "objectstore" (replicated through JetStream's object store, needed by a cluster). */
  segmentStore: SegmentStoreKind;
  /** Client port of the child nats-server; 0 picks a free one. */
  natsPort: number;
  shards: number;
  sealRowsMax: number;
  sealAgeMs: number;
  sealBytesMax: number;
  flushIntervalMs: number;
  /** A shard that sealed nothing for this long merges its small segments (two are enough). */
  compactionIdleMs: number;
  walMaxBytes: number;
  /** Producers are paused (and HTTP ingest answers 429) while a shard lags this far behind. */
  ingestLagMaxMs: number;
  walReplicas: number;
  duckdbMemoryLimit: string;
  duckdbThreads: number;
  /** API key -> tenant. Empty: open mode, every request is tenant "default". */
  apiKeys: ReadonlyMap<string, string>;
}

export type SegmentStoreKind = "local" | "objectstore";
export const SEGMENT_STORE_KINDS: readonly SegmentStoreKind[] = ["local", "objectstore"];
/** A node id is a KV key token and a path part: keep it to a safe alphabet. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Each option: its environment variable, flag, default and accepted range. */
export const OPTION_TABLE = [
  { key: "httpHost", env: "SLUICE_HTTP_HOST", flag: "http-host", default: "127.0.0.1", doc: "address the HTTP API listens on" },
  { key: "httpPort", env: "SLUICE_HTTP_PORT", flag: "http-port", default: 8080, min: 0, max: 65535, doc: "HTTP API port; 0 picks a free port" },
  { key: "dataDir", env: "SLUICE_DATA_DIR", flag: "data-dir", default: "./data", doc: "segments, manifests, and the child nats-server's JetStream store" },
  { key: "natsUrl", env: "SLUICE_NATS_URL", flag: "nats-url", default: undefined, doc: "use this NATS server (JetStream enabled; comma-separated URLs of one cluster) instead of starting one" },
  { key: "nodeId", env: "SLUICE_NODE_ID", flag: "node-id", default: undefined, doc: "this node's name in the cluster ([A-Za-z0-9_-]); default: the one saved in the data directory" },
  { key: "segmentStore", env: "SLUICE_SEGMENT_STORE", flag: "segment-store", default: "local", doc: "local, or objectstore: sealed segments are replicated through JetStream's object store before the WAL is acked (a cluster needs it)" },
  { key: "natsPort", env: "SLUICE_NATS_PORT", flag: "nats-port", default: 4222, min: 0, max: 65535, doc: "client port of the child nats-server; 0 picks a free port" },
  { key: "shards", env: "SLUICE_SHARDS", flag: "shards", default: 16, min: 1, max: 1024, doc: "shards of the WAL stream (fixed once the stream exists)" },
  { key: "sealRowsMax", env: "SLUICE_SEAL_ROWS", flag: "seal-rows", default: 500_000, min: 1, max: 50_000_000, doc: "seal a shard's memtable into a segment at this many rows" },
  { key: "sealAgeMs", env: "SLUICE_SEAL_AGE_MS", flag: "seal-age-ms", default: 5_000, min: 50, max: 20_000, doc: "... or when its oldest row is this old (must stay well under the WAL ack wait)" },
  { key: "sealBytesMax", env: "SLUICE_SEAL_BYTES", flag: "seal-bytes", default: 128 * 1024 * 1024, min: 1024, max: 4 * 1024 ** 3, doc: "... or at this many bytes of rows" },
  { key: "flushIntervalMs", env: "SLUICE_FLUSH_INTERVAL_MS", flag: "flush-interval-ms", default: 100, min: 10, max: 5_000, doc: "rows become searchable within about this long" },
  { key: "compactionIdleMs", env: "SLUICE_COMPACTION_IDLE_MS", flag: "compaction-idle-ms", default: COMPACTION_IDLE_AFTER_MS, min: 100, max: 86_400_000, doc: "a shard that sealed nothing for this long merges its small segments, two being enough (otherwise compaction waits for 16)" },
  { key: "walMaxBytes", env: "SLUICE_WAL_MAX_BYTES", flag: "wal-max-bytes", default: 10 * 1024 ** 3, min: 64 * 1024 ** 2, max: 2 ** 50, doc: "bytes of unsealed WAL JetStream holds before ingest gets 503" },
  { key: "ingestLagMaxMs", env: "SLUICE_INGEST_LAG_MAX_MS", flag: "ingest-lag-max-ms", default: 100, min: 20, max: 600_000, doc: "when a shard is this far behind (beyond the flush interval), producers are asked to pause (sluice.flow); HTTP ingest answers 429 from 1 s behind" },
  { key: "walReplicas", env: "SLUICE_WAL_REPLICAS", flag: "wal-replicas", default: 1, min: 1, max: 5, doc: "JetStream replicas of the WAL stream" },
  { key: "duckdbMemoryLimit", env: "SLUICE_DUCKDB_MEMORY", flag: "duckdb-memory", default: "2GB", doc: "DuckDB memory_limit" },
  { key: "duckdbThreads", env: "SLUICE_DUCKDB_THREADS", flag: "duckdb-threads", default: Math.max(1, availableParallelism() - 1), min: 1, max: 256, doc: "DuckDB worker threads (default: cores - 1, leaving one to the event loop and NATS)" },
  { key: "apiKeys", env: "SLUICE_API_KEYS", flag: "api-keys", default: "", doc: "comma-separated key:tenant pairs; when set, requests need Authorization: Bearer <key>" },
] as const;

export class ConfigError extends Error {
  readonly code = "bad_config";
}

type RawOptions = Record<string, string | number | undefined>;

function parseInteger(name: string, raw: string | number, min: number, max: number): number {
  const value = typeof raw === "number" ? raw : Number(raw.replace(/_/g, ""));
  if (!Number.isSafeInteger(value)) throw new ConfigError(`${name}: ${JSON.stringify(raw)} is not an integer`);
  if (value < min || value > max) throw new ConfigError(`${name}: ${value} is outside ${min}..${max}`);
  return value;
}

export function parseApiKeys(raw: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const pair of raw.split(",").map((part) => part.trim()).filter(Boolean)) {
    const [key, tenant, extra] = pair.split(":");
    if (!key || !tenant || extra !== undefined || !/^[A-Za-z0-9_-]{1,64}$/.test(tenant) || key.length < 8) {
      throw new ConfigError(`api-keys: ${JSON.stringify(pair.slice(0, 4) + "…")} must be key:tenant with a key of 8+ characters and a tenant of [A-Za-z0-9_-]`);
    }
    keys.set(key, tenant);
  }
  return keys;
}

/**
 * Merges flags over environment over defaults. `flags` are keyed by option key,
 * `env` is the process environment.
 */
export function parseNodeOptions(flags: RawOptions, env: Record<string, string | undefined>): NodeOptions {
  const result: Record<string, unknown> = {};
  for (const option of OPTION_TABLE) {
    // An empty environment variable means unset, not 0.
    const fromEnv = env[option.env]?.trim() ? env[option.env] : undefined;
    const raw = flags[option.key] ?? fromEnv ?? option.default;
    const name = `--${option.flag} / ${option.env}`;
    if ("min" in option) result[option.key] = parseInteger(name, raw as string | number, option.min, option.max);
    else result[option.key] = raw === undefined || raw === "" ? undefined : String(raw);
  }
  const options = { ...result, apiKeys: parseApiKeys((result.apiKeys as string | undefined) ?? "") } as unknown as NodeOptions;
  if (options.natsUrl !== undefined && !natsServers(options.natsUrl).every((url) => /^(nats|tls|ws|wss):\/\/[^\s,]+$/.test(url))) throw new ConfigError(`--nats-url / SLUICE_NATS_URL: ${options.natsUrl} is not a nats:// URL (or a comma-separated list of them)`);
  if (options.nodeId !== undefined && !NODE_ID_PATTERN.test(options.nodeId)) throw new ConfigError(`--node-id / SLUICE_NODE_ID: ${JSON.stringify(options.nodeId)} must be 1-64 characters of [A-Za-z0-9_-]`);
  if (!SEGMENT_STORE_KINDS.includes(options.segmentStore)) throw new ConfigError(`--segment-store / SLUICE_SEGMENT_STORE: ${JSON.stringify(options.segmentStore)} must be one of ${SEGMENT_STORE_KINDS.join(", ")}`);
  if (!/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i.test(options.duckdbMemoryLimit)) throw new ConfigError(`--duckdb-memory / SLUICE_DUCKDB_MEMORY: ${options.duckdbMemoryLimit} is not a size like 2GB`);
  if (options.dataDir === undefined) throw new ConfigError("--data-dir / SLUICE_DATA_DIR must not be empty");
  return Object.freeze(options);
}

/** The servers of a --nats-url value: one URL or a comma-separated list of one cluster's. */
export function natsServers(natsUrl: string): string[] {
  return natsUrl.split(",").map((url) => url.trim()).filter(Boolean);
}
