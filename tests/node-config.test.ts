// Goal: parseNodeOptions turns flags and environment into one frozen, validated
// NodeOptions: named defaults, environment over defaults, flags over environment, and a
// ConfigError naming the flag and the environment variable for every bad value; and
// durabilityWarnings says when the NATS server in use may lose acknowledged events.
// Method: whole-object comparisons against the defaults with one field changed; tables
// of bad values compared against the expected error (class, code, message); the
// durability warnings compared as whole lists per version and spawn mode.

import { availableParallelism } from "node:os";
import { describe, expect, test } from "bun:test";
import { ConfigError, OPTION_TABLE, parseApiKeys, natsServers, parseNodeOptions, type NodeOptions } from "../src/node/config.ts";
import { NATS_VERSION_RECOMMENDED, durabilityWarnings } from "../src/node/node.ts";

// The documented defaults, read from the option table (the one place they live),
// with the ones users most rely on pinned explicitly below.
const DEFAULTS: NodeOptions = {
  ...(Object.fromEntries(OPTION_TABLE.map((option) => [option.key, option.default])) as unknown as NodeOptions),
  apiKeys: new Map(),
};

test("the defaults users rely on", () => {
  expect({ httpHost: DEFAULTS.httpHost, httpPort: DEFAULTS.httpPort, dataDir: DEFAULTS.dataDir, shards: DEFAULTS.shards, natsPort: DEFAULTS.natsPort, natsUrl: DEFAULTS.natsUrl }).toEqual({
    httpHost: "127.0.0.1",
    httpPort: 8080,
    dataDir: "./data",
    shards: 16,
    natsPort: 4222,
    natsUrl: undefined,
  });
  expect(DEFAULTS.duckdbThreads).toBe(Math.max(1, availableParallelism() - 1));
});

/** What fn threw, as a comparable object. */
function thrown(fn: () => unknown): { error: string; code: unknown; message: string } {
  try {
    fn();
  } catch (error) {
    return { error: (error as Error).constructor.name, code: (error as ConfigError).code, message: (error as Error).message };
  }
  throw new Error("expected a throw");
}

function configError(message: string) {
  return { error: "ConfigError", code: "bad_config", message };
}

describe("defaults", () => {
  test("no flags and no environment: the documented defaults", () => {
    expect(parseNodeOptions({}, {})).toEqual(DEFAULTS);
  });

  test("unrelated environment variables are ignored", () => {
    expect(parseNodeOptions({}, { PORT: "1", HTTP_PORT: "2", SLUICE_UNKNOWN: "3" })).toEqual(DEFAULTS);
  });

  test("the returned object is frozen", () => {
    const options = parseNodeOptions({}, {});
    expect(Object.isFrozen(options)).toBe(true);
    expect(() => {
      (options as { httpPort: number }).httpPort = 1;
    }).toThrow(TypeError);
    expect(options.httpPort).toBe(8080);
  });
});

describe("environment and flags", () => {
  test.each<[string, string, Partial<NodeOptions>]>([
    ["SLUICE_HTTP_HOST", "0.0.0.0", { httpHost: "0.0.0.0" }],
    ["SLUICE_HTTP_PORT", "0", { httpPort: 0 }],
    ["SLUICE_HTTP_PORT", "65535", { httpPort: 65535 }],
    ["SLUICE_DATA_DIR", "/var/lib/sluice", { dataDir: "/var/lib/sluice" }],
    ["SLUICE_NATS_URL", "nats://10.0.0.5:4222", { natsUrl: "nats://10.0.0.5:4222" }],
    ["SLUICE_NATS_PORT", "0", { natsPort: 0 }],
    ["SLUICE_SHARDS", "1", { shards: 1 }],
    ["SLUICE_SHARDS", "1024", { shards: 1024 }],
    ["SLUICE_SEAL_ROWS", "1_000_000", { sealRowsMax: 1_000_000 }],
    ["SLUICE_SEAL_AGE_MS", "50", { sealAgeMs: 50 }],
    ["SLUICE_SEAL_BYTES", "1024", { sealBytesMax: 1024 }],
    ["SLUICE_FLUSH_INTERVAL_MS", "5000", { flushIntervalMs: 5000 }],
    ["SLUICE_WAL_MAX_BYTES", String(64 * 1024 ** 2), { walMaxBytes: 64 * 1024 ** 2 }],
    ["SLUICE_WAL_REPLICAS", "3", { walReplicas: 3 }],
    ["SLUICE_DUCKDB_MEMORY", "512MiB", { duckdbMemoryLimit: "512MiB" }],
    ["SLUICE_DUCKDB_THREADS", "256", { duckdbThreads: 256 }],
    ["SLUICE_API_KEYS", "secret-key-1:acme", { apiKeys: new Map([["secret-key-1", "acme"]]) }],
  ])("%s=%p overrides the default", (env, value, changed) => {
    expect(parseNodeOptions({}, { [env]: value })).toEqual({ ...DEFAULTS, ...changed });
  });

  test("flags override the environment, option by option", () => {
    const env = { SLUICE_HTTP_PORT: "9100", SLUICE_SHARDS: "8", SLUICE_DATA_DIR: "/env/data", SLUICE_DUCKDB_MEMORY: "1GB" };
    expect(parseNodeOptions({ httpPort: 9000, dataDir: "/flag/data" }, env)).toEqual({ ...DEFAULTS, httpPort: 9000, shards: 8, dataDir: "/flag/data", duckdbMemoryLimit: "1GB" });
  });

  test("flags given as strings (as a CLI parser may pass them) are parsed like the environment", () => {
    expect(parseNodeOptions({ httpPort: "9000", shards: "4", sealRowsMax: "2_000" }, {})).toEqual({ ...DEFAULTS, httpPort: 9000, shards: 4, sealRowsMax: 2000 });
  });

  test("an undefined flag falls through to the environment", () => {
    expect(parseNodeOptions({ httpPort: undefined }, { SLUICE_HTTP_PORT: "9100" })).toEqual({ ...DEFAULTS, httpPort: 9100 });
  });

  test("every option in OPTION_TABLE has a distinct flag and SLUICE_ environment variable", () => {
    const flags = OPTION_TABLE.map((option) => option.flag);
    const envs = OPTION_TABLE.map((option) => option.env);
    expect(new Set(flags).size).toBe(flags.length);
    expect(new Set(envs).size).toBe(envs.length);
    expect(envs.filter((name) => !name.startsWith("SLUICE_"))).toEqual([]);
    expect(OPTION_TABLE.map((option): string => option.key).sort()).toEqual(Object.keys(DEFAULTS).sort());
  });
});

describe("integer options out of range or not integers", () => {
  test.each<[keyof NodeOptions, string, string, string, string]>([
    ["httpPort", "http-port", "SLUICE_HTTP_PORT", "65536", "65536 is outside 0..65535"],
    ["httpPort", "http-port", "SLUICE_HTTP_PORT", "-1", "-1 is outside 0..65535"],
    ["natsPort", "nats-port", "SLUICE_NATS_PORT", "100000", "100000 is outside 0..65535"],
    ["shards", "shards", "SLUICE_SHARDS", "0", "0 is outside 1..1024"],
    ["shards", "shards", "SLUICE_SHARDS", "1025", "1025 is outside 1..1024"],
    ["shards", "shards", "SLUICE_SHARDS", "1.5", '"1.5" is not an integer'],
    ["shards", "shards", "SLUICE_SHARDS", "sixteen", '"sixteen" is not an integer'],
    ["sealRowsMax", "seal-rows", "SLUICE_SEAL_ROWS", "50_000_001", "50000001 is outside 1..50000000"],
    ["sealAgeMs", "seal-age-ms", "SLUICE_SEAL_AGE_MS", "49", "49 is outside 50..20000"],
    ["sealAgeMs", "seal-age-ms", "SLUICE_SEAL_AGE_MS", "30000", "30000 is outside 50..20000"],
    ["sealBytesMax", "seal-bytes", "SLUICE_SEAL_BYTES", "1023", "1023 is outside 1024..4294967296"],
    ["flushIntervalMs", "flush-interval-ms", "SLUICE_FLUSH_INTERVAL_MS", "9", "9 is outside 10..5000"],
    ["walMaxBytes", "wal-max-bytes", "SLUICE_WAL_MAX_BYTES", "1024", "1024 is outside 67108864..1125899906842624"],
    ["walMaxBytes", "wal-max-bytes", "SLUICE_WAL_MAX_BYTES", "1e400", '"1e400" is not an integer'],
    ["walReplicas", "wal-replicas", "SLUICE_WAL_REPLICAS", "6", "6 is outside 1..5"],
    ["duckdbThreads", "duckdb-threads", "SLUICE_DUCKDB_THREADS", "0", "0 is outside 1..256"],
    ["duckdbThreads", "duckdb-threads", "SLUICE_DUCKDB_THREADS", "NaN", '"NaN" is not an integer'],
  ])("%s = %p from the environment: ConfigError naming --%s and %s", (key, flag, env, value, problem) => {
    expect(thrown(() => parseNodeOptions({}, { [env]: value }))).toEqual(configError(`--${flag} / ${env}: ${problem}`));
    // The same value as a flag fails the same way.
    expect(thrown(() => parseNodeOptions({ [key]: value }, {}))).toEqual(configError(`--${flag} / ${env}: ${problem}`));
  });

  test.each<[number, string]>([
    [1.5, "1.5 is not an integer"],
    [Number.NaN, "null is not an integer"],
    [70_000, "70000 is outside 0..65535"],
  ])("a numeric flag %p: ConfigError", (value, problem) => {
    expect(thrown(() => parseNodeOptions({ httpPort: value }, {}))).toEqual(configError(`--http-port / SLUICE_HTTP_PORT: ${problem}`));
  });

  test("a bad environment value is not reached when a flag overrides it", () => {
    expect(parseNodeOptions({ shards: 2 }, { SLUICE_SHARDS: "many" }).shards).toBe(2);
  });

  // BUG (src/node/config.ts, parseInteger): Number("") and Number("  ") are 0, so an
  // integer variable that is set but empty (SLUICE_HTTP_PORT= in a unit file or
  // `docker run -e SLUICE_HTTP_PORT=`) silently becomes 0: the HTTP API moves to a random
  // free port instead of 8080 (for shards and the like it fails as "0 is outside 1..1024",
  // which hides that the value was empty). String options treat "" as unset.
  // Expected: the default 8080 or a ConfigError; actual: httpPort 0.
  // test.failing passes while the bug is present; remove `.failing` once it is fixed.
  test("an empty integer environment variable does not silently become 0", () => {
    let outcome: unknown;
    try {
      outcome = parseNodeOptions({}, { SLUICE_HTTP_PORT: "" }).httpPort;
    } catch (error) {
      outcome = error instanceof ConfigError ? "ConfigError" : error;
    }
    expect([8080, "ConfigError"]).toContain(outcome as number | string);
  });
});

describe("string options", () => {
  test.each(["nats://127.0.0.1:4222", "tls://nats.example.com:4222", "ws://127.0.0.1:8080", "wss://nats.example.com"])("nats url %p is accepted", (url) => {
    expect(parseNodeOptions({}, { SLUICE_NATS_URL: url }).natsUrl).toBe(url);
  });

  test("an empty nats url means none (start a child server)", () => {
    expect(parseNodeOptions({}, { SLUICE_NATS_URL: "" }).natsUrl).toBeUndefined();
  });

  test.each(["localhost:4222", "http://127.0.0.1:4222", "127.0.0.1", "nats:/127.0.0.1", "nats://127.0.0.1:4222,127.0.0.1:4223"])("nats url %p is a ConfigError", (url) => {
    expect(thrown(() => parseNodeOptions({}, { SLUICE_NATS_URL: url }))).toEqual(configError(`--nats-url / SLUICE_NATS_URL: ${url} is not a nats:// URL (or a comma-separated list of them)`));
  });

  test("a cluster's servers are one comma-separated nats url", () => {
    const options = parseNodeOptions({}, { SLUICE_NATS_URL: "nats://127.0.0.1:4311, nats://127.0.0.1:4312" });
    expect(natsServers(options.natsUrl!)).toEqual(["nats://127.0.0.1:4311", "nats://127.0.0.1:4312"]);
  });

  test("node id and segment store", () => {
    expect(parseNodeOptions({ nodeId: "node-2", segmentStore: "objectstore" }, {})).toMatchObject({ nodeId: "node-2", segmentStore: "objectstore" });
    expect(parseNodeOptions({}, {}).segmentStore).toBe("local");
    expect(thrown(() => parseNodeOptions({ nodeId: "node 2" }, {}))).toEqual(configError('--node-id / SLUICE_NODE_ID: "node 2" must be 1-64 characters of [A-Za-z0-9_-]'));
    expect(thrown(() => parseNodeOptions({}, { SLUICE_SEGMENT_STORE: "s3" }))).toEqual(configError('--segment-store / SLUICE_SEGMENT_STORE: "s3" must be one of local, objectstore'));
  });

  test.each(["2GB", "512MB", "1.5GB", "1.5 GB", "4gb", "256MiB", "1TiB", "100KB"])("duckdb memory %p is accepted", (size) => {
    expect(parseNodeOptions({}, { SLUICE_DUCKDB_MEMORY: size }).duckdbMemoryLimit).toBe(size);
  });

  test.each(["2G", "lots", "-1GB", "2 PB", "GB", "2GB; SET x=1", "1.GB"])("duckdb memory %p is a ConfigError", (size) => {
    expect(thrown(() => parseNodeOptions({}, { SLUICE_DUCKDB_MEMORY: size }))).toEqual(configError(`--duckdb-memory / SLUICE_DUCKDB_MEMORY: ${size} is not a size like 2GB`));
  });

  test("an empty --data-dir flag is a ConfigError; an empty SLUICE_DATA_DIR means unset", () => {
    expect(thrown(() => parseNodeOptions({ dataDir: "" }, {}))).toEqual(configError("--data-dir / SLUICE_DATA_DIR must not be empty"));
    expect(parseNodeOptions({}, { SLUICE_DATA_DIR: "" }).dataDir).toBe("./data");
  });
});

describe("api keys", () => {
  test.each<[string, [string, string][]]>([
    ["", []],
    ["secret-key-1:acme", [["secret-key-1", "acme"]]],
    ["secret-key-1:acme,secret-key-2:beta_2", [["secret-key-1", "acme"], ["secret-key-2", "beta_2"]]],
    [" secret-key-1:acme , ,secret-key-2:Beta-2, ", [["secret-key-1", "acme"], ["secret-key-2", "Beta-2"]]],
    ["12345678:t", [["12345678", "t"]]],
    [`secret-key-1:${"t".repeat(64)}`, [["secret-key-1", "t".repeat(64)]]],
  ])("%p parses", (raw, pairs) => {
    expect(parseApiKeys(raw)).toEqual(new Map(pairs));
    expect(parseNodeOptions({ apiKeys: raw }, {}).apiKeys).toEqual(new Map(pairs));
  });

  test.each<[string, string]>([
    ["short key", "1234567:acme"],
    ["no tenant", "secret-key-1"],
    ["empty tenant", "secret-key-1:"],
    ["empty key", ":acme"],
    ["three parts", "secret-key-1:acme:extra"],
    ["tenant with a space", "secret-key-1:ac me"],
    ["tenant with a slash", "secret-key-1:acme/prod"],
    ["tenant over 64 characters", `secret-key-1:${"t".repeat(65)}`],
  ])("%s is a ConfigError that shows only the first 4 characters", (_what, pair) => {
    const expected = configError(`api-keys: ${JSON.stringify(pair.slice(0, 4) + "…")} must be key:tenant with a key of 8+ characters and a tenant of [A-Za-z0-9_-]`);
    expect(thrown(() => parseApiKeys(`good-key-1:ok,${pair}`))).toEqual(expected);
    expect(thrown(() => parseNodeOptions({}, { SLUICE_API_KEYS: pair }))).toEqual(expected);
  });

  test("the error never echoes a whole key", () => {
    expect(thrown(() => parseApiKeys("supersecretvalue:bad tenant")).message).not.toContain("supersecretvalue");
  });
});

describe("durabilityWarnings", () => {
  const [major, minor, patch] = NATS_VERSION_RECOMMENDED;
  const recommended = `${major}.${minor}.${patch}`;
  const older = (version: string) => `nats-server ${version} is older than ${recommended}: production needs ${recommended} or newer for JetStream durability fixes.`;
  const noFsync = (version: string) =>
    `nats-server ${version} does not fsync every write (sync_interval: always needs 2.10+): an acknowledged event can be lost if the machine (not just the process) crashes.`;
  const external = "cannot verify that the external NATS server fsyncs every write: production needs `sync_interval: always` in its jetstream block.";

  test("the recommended version is 2.10.23", () => {
    expect(recommended).toBe("2.10.23");
  });

  test.each<[string, boolean, string[]]>([
    ["2.9.10", true, [older("2.9.10"), noFsync("2.9.10")]],
    ["2.10.23", true, []],
    ["2.11.4", true, []],
    ["3.0.0", true, []],
    ["2.10.0", true, [older("2.10.0")]],
    ["2.10.22", true, [older("2.10.22")]],
    ["v2.9.25", true, [older("2.9.25"), noFsync("2.9.25")]],
    ["0.0.0", true, [older("0.0.0"), noFsync("0.0.0")]],
    ["2.10.23", false, [external]],
    ["2.11.4", false, [external]],
    ["2.9.10", false, [older("2.9.10"), external]],
  ])("version %p, spawned %p", (version, spawned, warnings) => {
    expect(durabilityWarnings(version, spawned)).toEqual(warnings);
  });
});
