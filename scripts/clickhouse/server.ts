// ClickHouse for the benchmarks: Debian's clickhouse-server as a child process with a
// config written into its own directory (loopback only, free ports, data under that
// directory), the benchmarks' schemas (beside this file: schema.sql for the query
// benchmark, ingest-schema.sql for the ingest comparison), bulk loads of TabSeparated
// or JSONEachRow rows and queries over the HTTP interface.

import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, sqlFileStatements, startServerChild, type Children } from "../bench-lib.ts";
import { TSV_COLUMNS } from "../gen-dataset.ts";

/** Where Debian's clickhouse-server package puts the server (apt-get install clickhouse-server). */
const SERVER_PATHS = ["/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"];
/** Longest wait for a starting server to answer /ping (it loads every table's parts first). */
const START_TIMEOUT_MS = 300_000;
/** Longest wait for one statement, ms: room for a bulk INSERT of a whole chunk and a schema POPULATE. */
const QUERY_TIMEOUT_MS = 600_000;
/** Longest wait for a graceful stop before SIGKILL. */
const STOP_TIMEOUT_MS = 60_000;

export interface ClickHouseServer {
  httpUrl: string;
  pid: number;
  dataDir: string;
  /** SIGTERM (or `signal`: SIGKILL when the data goes next anyway), SIGKILL after STOP_TIMEOUT_MS; once, and on cleanup. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

function serverBinary(): string {
  const found = [process.env.CLICKHOUSE_SERVER, ...SERVER_PATHS].find((path) => path && existsSync(path));
  if (!found) throw new Error(`clickhouse-server not found (looked in ${SERVER_PATHS.join(", ")}); install it with: apt-get install -y clickhouse-server clickhouse-client, set CLICKHOUSE_SERVER, or pass --no-clickhouse`);
  return found;
}

/** config.xml and users.xml for a server that listens on loopback only and keeps everything under `dir`. */
function writeConfig(dir: string, httpPort: number, tcpPort: number): string {
  const data = join(dir, "data");
  for (const path of [data, join(dir, "etc"), join(dir, "log")]) mkdirSync(path, { recursive: true });
  const configPath = join(dir, "etc", "config.xml");
  writeFileSync(
    configPath,
    `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/server.err.log</errorlog><size>100M</size><count>2</count></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>${httpPort}</http_port>
  <tcp_port>${tcpPort}</tcp_port>
  <path>${data}/</path>
  <tmp_path>${data}/tmp/</tmp_path>
  <user_files_path>${data}/user_files/</user_files_path>
  <format_schema_path>${data}/format_schemas/</format_schema_path>
  <users_config>${dir}/etc/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>1073741824</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
</yandex>
`,
  );
  // LowCardinality is still marked experimental in 18.16.
  writeFileSync(
    join(dir, "etc", "users.xml"),
    `<?xml version="1.0"?>
<yandex>
  <profiles><default><allow_experimental_low_cardinality_type>1</allow_experimental_low_cardinality_type></default></profiles>
  <users><default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default></users>
  <quotas><default></default></quotas>
</yandex>
`,
  );
  return configPath;
}

/** Starts clickhouse-server with its data in `dir` (kept across runs) and waits until it answers. */
export async function startClickHouse(dir: string, children: Children): Promise<ClickHouseServer> {
  const httpPort = freePort();
  const configPath = writeConfig(dir, httpPort, freePort());
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const server = await startServerChild({
    name: "clickhouse-server",
    command: [serverBinary(), `--config-file=${configPath}`],
    cwd: dir,
    logPath: join(dir, "log", "stdout.log"),
    seeLog: join(dir, "log", "server.err.log"),
    children,
    ready: async () => {
      const answer = await (await fetch(`${httpUrl}/ping`)).text();
      if (!answer.startsWith("Ok")) throw new Error(`/ping answered ${JSON.stringify(answer.slice(0, 100))}`);
    },
    readyTimeoutMs: START_TIMEOUT_MS,
    stopSignal: "SIGTERM",
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  return { httpUrl, pid: server.pid, dataDir: join(dir, "data"), stop: server.stop };
}

/** Runs one statement over HTTP; returns the body. A non-200 answer throws an Error with ClickHouse's message. */
export async function clickhouseQuery(httpUrl: string, sql: string, options: { body?: Uint8Array | string } = {}): Promise<string> {
  const url = options.body === undefined ? httpUrl : `${httpUrl}/?query=${encodeURIComponent(sql)}`;
  const response = await fetch(url, { method: "POST", body: options.body ?? sql, signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
  const text = await response.text();
  if (!response.ok) throw new Error(`ClickHouse ${response.status}: ${text.slice(0, 500)}`);
  return text;
}

/** A schema file beside this one: the query benchmark's (tables and materialized views) or the ingest comparison's (one table). */
type ClickHouseSchema = "schema.sql" | "ingest-schema.sql";

const schemaStatements = (schema: ClickHouseSchema) => sqlFileStatements(join(import.meta.dir, schema));

/** Drops the query benchmark's tables and views, those schema.sql creates, last created first (a load that did not finish is started over). */
export async function dropSchema(httpUrl: string): Promise<void> {
  const names = schemaStatements("schema.sql").flatMap((statement) => /CREATE (?:MATERIALIZED VIEW|TABLE) IF NOT EXISTS (\w+)/.exec(statement)?.[1] ?? []);
  for (const name of names.reverse()) await clickhouseQuery(httpUrl, `DROP TABLE IF EXISTS ${name}`);
}

export async function createSchema(httpUrl: string, schema: ClickHouseSchema = "schema.sql"): Promise<void> {
  for (const statement of schemaStatements(schema)) await clickhouseQuery(httpUrl, statement);
}

/** The INSERT a TabSeparated body of gen-dataset's toTsv rows goes to. */
const INSERT_TSV = `INSERT INTO logs (${TSV_COLUMNS.join(", ")}) FORMAT TabSeparated`;

/** Inserts TabSeparated rows (one INSERT). */
export async function insertTsv(httpUrl: string, rows: Uint8Array | string): Promise<void> {
  await clickhouseQuery(httpUrl, INSERT_TSV, { body: rows });
}

/** Inserts JSONEachRow rows (one INSERT; ingest-schema.sql's columns). */
export async function insertJsonEachRow(httpUrl: string, rows: Uint8Array | string): Promise<void> {
  await clickhouseQuery(httpUrl, "INSERT INTO logs FORMAT JSONEachRow", { body: rows });
}

/** Active parts, rows and bytes on disk per table. */
export async function clickhouseStorage(httpUrl: string): Promise<Record<string, { parts: number; rows: number; bytes: number }>> {
  const parts = await clickhouseQuery(httpUrl, "SELECT table, count(), sum(rows), sum(bytes_on_disk) FROM system.parts WHERE active AND database = 'default' GROUP BY table FORMAT TabSeparated");
  const tables: Record<string, { parts: number; rows: number; bytes: number }> = {};
  for (const line of parts.split("\n").filter(Boolean)) {
    const [table, count, rows, bytes] = line.split("\t");
    tables[table] = { parts: Number(count), rows: Number(rows), bytes: Number(bytes) };
  }
  return tables;
}

/** Merges running. */
export async function clickhouseMerges(httpUrl: string): Promise<number> {
  return Number((await clickhouseQuery(httpUrl, "SELECT count() FROM system.merges")).trim());
}

/** A string literal for ClickHouse SQL. */
export function sqlString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}
