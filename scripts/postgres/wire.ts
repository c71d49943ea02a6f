// A minimal PostgreSQL frontend for the benchmarks: protocol 3.0 over TCP with trust
// authentication (the throwaway loopback cluster of server.ts), the simple query
// protocol (text results) and COPY ... FROM STDIN. It exists so that the ingest
// comparison can time each COPY from its first byte to its CommandComplete without a
// new npm dependency or a psql process per batch. One operation at a time per
// connection (later ones queue behind it); open more connections for concurrency.

import { connect as connectTcp, type Socket } from "node:net";

/** Longest wait for one statement or COPY, ms: a COPY of a big batch into an indexed table under load. */
const OPERATION_TIMEOUT_MS = 600_000;
/** Largest message accepted from the server, bytes: a result row of the benchmark's queries is far below it. */
const SERVER_MESSAGE_BYTES_MAX = 64 * 1024 * 1024;
const PROTOCOL_VERSION_3 = 196_608;

/** An ErrorResponse from the server (its SQLSTATE in `code`), or a broken connection. */
export class PgError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export interface QueryResult {
  /** Rows in text format, one string (or null) per column. */
  rows: (string | null)[][];
  /** The CommandComplete tag, e.g. "COPY 10000" or "SELECT 1". */
  command: string;
}

interface Pending {
  rows: (string | null)[][];
  command: string;
  error?: PgError;
  resolve: (result: QueryResult) => void;
  reject: (error: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One message: a type byte, its length (itself included) and the body. */
function message(type: string, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + body.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setInt32(1, 4 + body.length);
  out.set(body, 5);
  return out;
}

/** A C string: UTF-8 bytes and a terminating zero. */
function cString(text: string): Uint8Array {
  const bytes = encoder.encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** The human part of an ErrorResponse: severity, SQLSTATE and message fields. */
function parseError(body: Uint8Array): PgError {
  const fields: Record<string, string> = {};
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    fields[String.fromCharCode(body[at])] = decoder.decode(body.subarray(at + 1, end));
    at = end + 1;
  }
  return new PgError(`PostgreSQL ${fields.S ?? "ERROR"} ${fields.C ?? ""}: ${fields.M ?? "unknown error"}${fields.D ? ` (${fields.D})` : ""}`, fields.C ?? "");
}

/** A DataRow's columns as text (null for SQL NULL). */
function parseDataRow(body: Uint8Array): (string | null)[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const columns = view.getInt16(0);
  const row: (string | null)[] = [];
  let at = 2;
  for (let column = 0; column < columns; column++) {
    const length = view.getInt32(at);
    at += 4;
    if (length < 0) row.push(null);
    else {
      row.push(decoder.decode(body.subarray(at, at + length)));
      at += length;
    }
  }
  return row;
}

export class PgConnection {
  private buffer = new Uint8Array(0);
  private pending?: Pending;
  private ready?: { resolve: () => void; reject: (error: Error) => void };
  private closedError?: Error;
  private queue: Promise<void> = Promise.resolve();

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (error) => this.fail(new PgError(`connection failed: ${error.message}`, "08006")));
    socket.on("close", () => this.fail(new PgError("connection closed by the server", "08006")));
  }

  /** Opens a connection and completes the startup (trust authentication only). */
  static async connect(options: { host: string; port: number; user: string; database: string }): Promise<PgConnection> {
    const socket = connectTcp({ host: options.host, port: options.port });
    socket.setNoDelay(true);
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("error", reject);
    });
    const connection = new PgConnection(socket);
    const parameters = [...cString("user"), ...cString(options.user), ...cString("database"), ...cString(options.database), ...cString("client_encoding"), ...cString("UTF8"), 0];
    const startup = new Uint8Array(8 + parameters.length);
    const view = new DataView(startup.buffer);
    view.setInt32(0, startup.length);
    view.setInt32(4, PROTOCOL_VERSION_3);
    startup.set(parameters, 8);
    await new Promise<void>((resolve, reject) => {
      connection.ready = { resolve, reject };
      socket.write(startup);
    });
    return connection;
  }

  /** Runs one statement (or several separated by ";") with the simple query protocol. */
  query(sql: string): Promise<QueryResult> {
    return this.send([message("Q", cString(sql))]);
  }

  /**
   * `COPY ... FROM STDIN` with `data` (text or CSV as the statement says) sent at once
   * behind the statement: the server reads it once it entered copy mode, and a
   * statement that fails first makes it ignore the data (the protocol says so).
   * Resolves with the CommandComplete tag ("COPY <rows>").
   */
  copyIn(sql: string, data: Uint8Array): Promise<QueryResult> {
    return this.send([message("Q", cString(sql)), message("d", data), message("c", new Uint8Array(0))]);
  }

  async close(): Promise<void> {
    if (this.closedError) return;
    this.closedError = new PgError("connection closed", "08003");
    this.socket.end(message("X", new Uint8Array(0)));
    await new Promise<void>((resolve) => {
      this.socket.once("close", () => resolve());
      setTimeout(resolve, 1000).unref();
    });
  }

  /** Queues an operation behind the one running (the protocol answers them in order, one at a time). */
  private send(parts: Uint8Array[]): Promise<QueryResult> {
    const result = this.queue.then(() => this.start(parts));
    // The queue only orders operations; each caller gets its own outcome from `result`.
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private start(parts: Uint8Array[]): Promise<QueryResult> {
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new PgError(`no answer within ${OPERATION_TIMEOUT_MS / 1000} s`, "57014")), OPERATION_TIMEOUT_MS);
      this.pending = { rows: [], command: "", resolve, reject, timer };
      for (const part of parts) this.socket.write(part);
    });
  }

  private fail(error: Error): void {
    this.closedError ??= error;
    this.ready?.reject(error);
    this.ready = undefined;
    const pending = this.pending;
    this.pending = undefined;
    if (pending) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
  }

  private receive(chunk: Buffer): void {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    let at = 0;
    while (joined.length - at >= 5) {
      const length = new DataView(joined.buffer, at + 1, 4).getInt32(0);
      if (length < 4 || length > SERVER_MESSAGE_BYTES_MAX) {
        this.fail(new PgError(`malformed server message (length ${length})`, "08P01"));
        this.socket.destroy();
        return;
      }
      if (joined.length - at < 1 + length) break;
      this.handle(String.fromCharCode(joined[at]), joined.subarray(at + 5, at + 1 + length));
      at += 1 + length;
    }
    this.buffer = joined.slice(at);
  }

  private handle(type: string, body: Uint8Array): void {
    const pending = this.pending;
    switch (type) {
      case "R": {
        const kind = new DataView(body.buffer, body.byteOffset, 4).getInt32(0);
        if (kind !== 0) this.fail(new PgError(`the server asks for authentication method ${kind}; the benchmark cluster uses trust`, "28000"));
        return;
      }
      case "E": {
        const error = parseError(body);
        if (pending) pending.error ??= error;
        else this.fail(error);
        return;
      }
      case "D":
        pending?.rows.push(parseDataRow(body));
        return;
      case "C":
        if (pending) pending.command = decoder.decode(body.subarray(0, body.length - 1));
        return;
      case "Z": {
        if (this.ready) {
          this.ready.resolve();
          this.ready = undefined;
          return;
        }
        if (!pending) return;
        this.pending = undefined;
        clearTimeout(pending.timer);
        if (pending.error) pending.reject(pending.error);
        else pending.resolve({ rows: pending.rows, command: pending.command });
        return;
      }
      default:
        // ParameterStatus, BackendKeyData, RowDescription, CopyInResponse, NoticeResponse, EmptyQueryResponse: nothing to keep.
        return;
    }
  }
}

/** A string literal for PostgreSQL SQL (standard_conforming_strings is on since 9.1). */
export function pgString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/** A value of COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyText(value: string): string {
  return /[\\\t\n\r]/.test(value) ? value.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r") : value;
}
