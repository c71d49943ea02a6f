// One DuckDB instance per node, locked down: it may read and write only Sluice's
// data directory, cannot load extensions, and its configuration is locked before
// any user query runs (Invariant 5).

import { DuckDBConnection, DuckDBInstance, DuckDBPreparedStatement } from "@duckdb/node-api";

export interface DuckOptions {
  /** Absolute data directory; the only place DuckDB may touch. */
  dataDir: string;
  /** DuckDB memory_limit, e.g. "2GB". */
  memoryLimit: string;
  threads: number;
}

/** A bound parameter: user input reaches SQL only this way. */
export type SqlParam = string | number | bigint | boolean;

export class Duck {
  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly setup: DuckDBConnection,
  ) {}

  static async open(options: DuckOptions): Promise<Duck> {
    const instance = await DuckDBInstance.create(":memory:", {
      threads: String(options.threads),
      memory_limit: options.memoryLimit,
      autoinstall_known_extensions: "false",
      autoload_known_extensions: "false",
    });
    const setup = await instance.connect();
    const root = options.dataDir.endsWith("/") ? options.dataDir : `${options.dataDir}/`;
    if (/['\\]/.test(root)) throw new Error(`data directory ${root} contains a quote or backslash`);
    await setup.run(`SET allowed_directories=['${root}']`);
    await setup.run("SET enable_external_access=false");
    // Insertion order stays preserved (DuckDB's default): a compaction's output holds
    // its inputs' rows in order, so its skip index is theirs joined (segment-skip-indexes.ts).
    await setup.run("SET preserve_insertion_order=true");
    // A Parquet file's footer is parsed again by every statement that reads it unless
    // cached: ~2.5 ms of a compacted segment's (~400 KB, ~200 row groups), as much as
    // decoding one of its row groups whole, so a trace id's few row groups cost twice
    // their decode. The cache is DuckDB memory (entries of files modified in the last 10 s
    // are never trusted, so a rewritten path is parsed again). Its cache of
    // file bytes is off: the files are local and the page cache holds them already,
    // and reading through it cost more CPU than reading the file.
    await setup.run("LOAD parquet");
    await setup.run("SET GLOBAL parquet_metadata_cache=true");
    await setup.run("SET enable_external_file_cache=false");
    await setup.run("SET lock_configuration=true");
    return new Duck(instance, setup);
  }

  connect(): Promise<DuckDBConnection> {
    return this.instance.connect();
  }

  close(): void {
    this.setup.closeSync();
    this.instance.closeSync();
  }
}

/** Binds positional parameters ($1, $2, …) by their JS type. */
export function bindAll(statement: DuckDBPreparedStatement, params: readonly SqlParam[]): void {
  params.forEach((value, index) => {
    const position = index + 1;
    if (typeof value === "string") statement.bindVarchar(position, value);
    else if (typeof value === "bigint") statement.bindBigInt(position, value);
    else if (typeof value === "boolean") statement.bindBoolean(position, value);
    else if (Number.isInteger(value)) statement.bindBigInt(position, BigInt(value));
    else statement.bindDouble(position, value);
  });
}

/** Runs a parameterized query and returns rows as objects (BIGINTs as numbers). */
export async function queryRows(connection: DuckDBConnection, sql: string, params: readonly SqlParam[] = []): Promise<Record<string, unknown>[]> {
  const statement = await connection.prepare(sql);
  try {
    bindAll(statement, params);
    const reader = await statement.runAndReadAll();
    return reader.getRowObjectsJS() as Record<string, unknown>[];
  } finally {
    statement.destroySync();
  }
}

export async function execute(connection: DuckDBConnection, sql: string, params: readonly SqlParam[] = []): Promise<void> {
  if (params.length === 0) {
    await connection.run(sql);
    return;
  }
  const statement = await connection.prepare(sql);
  try {
    bindAll(statement, params);
    await statement.run();
  } finally {
    statement.destroySync();
  }
}
