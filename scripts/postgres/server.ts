// PostgreSQL for the ingest comparison: a throwaway cluster of Debian's PostgreSQL in a
// temporary directory (initdb with trust authentication, listening on loopback only,
// a free port), the seed's naive `logs` table (schema.sql beside this file), and its
// stop: fast shutdown, then SIGKILL, then the directory is removed. PostgreSQL refuses
// to run as root, so as root the cluster runs as the `postgres` user (setpriv, which
// execs, so the child's pid is the postmaster's).

import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, sqlFileStatements, startServerChild, type Children } from "../bench-lib.ts";
import { PgConnection } from "./wire.ts";

/** Where Debian's postgresql-NN packages put the server binaries. */
const DEBIAN_BIN_ROOT = "/usr/lib/postgresql";
/** Longest wait for a starting cluster to accept connections. */
const START_TIMEOUT_MS = 60_000;
/** Longest wait for a fast shutdown before SIGKILL. */
const STOP_TIMEOUT_MS = 60_000;
/** The user PostgreSQL runs as when the benchmark runs as root (override with BENCH_PG_USER). */
const DEFAULT_OS_USER = "postgres";

export interface PostgresServer {
  host: string;
  port: number;
  /** The postmaster. */
  pid: number;
  /** The cluster's data directory (tables, indexes, WAL). */
  dataDir: string;
  connect(): Promise<PgConnection>;
  /** Fast shutdown (SIGKILL after a minute), then the cluster's directory is removed. */
  stop(): Promise<void>;
}

/** Server settings beyond initdb's defaults: a first tuning anyone loading logs makes (fewer forced checkpoints), nothing that weakens durability. */
const SERVER_SETTINGS: Readonly<Record<string, string>> = {
  listen_addresses: "127.0.0.1",
  max_wal_size: "4GB",
  logging_collector: "off",
};

function binDirectory(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const versions = existsSync(DEBIAN_BIN_ROOT) ? readdirSync(DEBIAN_BIN_ROOT).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a)) : [];
  const found = versions.map((version) => join(DEBIAN_BIN_ROOT, version, "bin")).find((dir) => existsSync(join(dir, "postgres")));
  if (!found) throw new Error(`PostgreSQL not found under ${DEBIAN_BIN_ROOT}/<version>/bin; install it with: apt-get install -y postgresql, set PG_BIN, or leave postgres out of --systems`);
  return found;
}

/** uid and gid of an OS user, from /etc/passwd. */
function osUser(name: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.startsWith(`${name}:`));
  if (!line) throw new Error(`PostgreSQL cannot run as root and there is no user "${name}" to run it as; create one or set BENCH_PG_USER`);
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

/** The schema's statements (schema.sql beside this file). */
export const postgresSchemaStatements = () => sqlFileStatements(join(import.meta.dir, "schema.sql"));

/** Makes a cluster in a new temporary directory, starts it and waits until it accepts connections; stopped by `children` on cleanup. */
export async function startPostgres(children: Children): Promise<PostgresServer> {
  const bin = binDirectory();
  const root = mkdtempSync(join(tmpdir(), "sluice-bench-pg-"));
  children.onCleanup(async () => rmSync(root, { recursive: true, force: true }));
  const dataDir = join(root, "data");
  let asUser: string[] = [];
  if (process.getuid?.() === 0) {
    const { uid, gid } = osUser(process.env.BENCH_PG_USER ?? DEFAULT_OS_USER);
    chownSync(root, uid, gid);
    asUser = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--"];
  }
  const initdb = Bun.spawnSync([...asUser, join(bin, "initdb"), "-D", dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"], { stdout: "pipe", stderr: "pipe" });
  if (initdb.exitCode !== 0) throw new Error(`initdb failed (exit ${initdb.exitCode}): ${initdb.stderr.toString().slice(0, 1000)}`);
  const port = freePort();
  const settings = Object.entries({ ...SERVER_SETTINGS, port: String(port), unix_socket_directories: root }).flatMap(([name, value]) => ["-c", `${name}=${value}`]);
  const connect = () => PgConnection.connect({ host: "127.0.0.1", port, user: "postgres", database: "postgres" });
  const server = await startServerChild({
    name: "postgres",
    command: [...asUser, join(bin, "postgres"), "-D", dataDir, ...settings],
    logPath: join(root, "server.log"),
    children,
    // Refused ("the database system is starting up", or nothing listening) until it serves.
    ready: async () => {
      const connection = await connect();
      await connection.query("SELECT 1");
      await connection.close();
    },
    readyTimeoutMs: START_TIMEOUT_MS,
    stopSignal: "SIGINT", // fast shutdown: roll back open transactions, checkpoint, exit
    stopTimeoutMs: STOP_TIMEOUT_MS,
  });
  return {
    host: "127.0.0.1",
    port,
    pid: server.pid,
    dataDir,
    connect,
    async stop() {
      await server.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
