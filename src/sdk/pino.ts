// Ships an existing pino logger into Sluice with configuration only: a pino destination
// (anything with write(line)) that parses each JSON line pino writes and hands it to a
// Sluice logger. It never loads pino itself.
//
//   import pino from "pino";
//   import { sluiceDestination } from "sluice/sdk/pino";
//   const log = pino({ name: "checkout" }, sluiceDestination({ servers: "nats://127.0.0.1:4222" }));
//   log.info({ order_id: 42 }, "order placed");   // -> service checkout, level INFO, metadata {pid, order_id}
//
// Mapping: pino's numeric level (10 trace, 20 debug, 30 info, 40 warn, 50 error, 60
// fatal; a custom level goes to the nearest at or above it) or its label -> level;
// `msg` -> message; `time` -> timestamp; `hostname` -> hostname; `name` -> service
// (both keys configurable); everything else (pid, err, bindings, fields) -> metadata.

import { createLogger, type LoggerStats, type LogRecord, type SluiceLogger } from "./logger.ts";
import type { LoggerOptions } from "./options.ts";

export interface SluiceDestinationOptions extends LoggerOptions {
  /** pino field that names the service; default "name" (pino's `name` option). */
  serviceKey?: string;
  /** pino field that holds the message; default "msg" (pino's `messageKey` option). */
  messageKey?: string;
}

/** pino's numeric levels, upper bounds of each Sluice level (a custom level 35 is WARN). */
const PINO_LEVELS: readonly [number, string][] = [
  [10, "TRACE"],
  [20, "DEBUG"],
  [30, "INFO"],
  [40, "WARN"],
  [50, "ERROR"],
];

export function pinoLevel(level: number): string {
  for (const [bound, name] of PINO_LEVELS) if (level <= bound) return name;
  return "FATAL";
}

/** One line pino wrote, as a Sluice record; a line that is not a JSON object becomes an event whose message is the line. */
export function pinoLineToRecord(line: string, serviceKey = "name", messageKey = "msg"): LogRecord {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    // Not JSON (a pino configured with a custom serializer): the line itself is the message.
    return { message: line };
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return { message: line };
  const record = parsed as LogRecord;
  if (typeof record.level === "number") record.level = pinoLevel(record.level);
  if (messageKey in record) {
    if (record.message === undefined) {
      record.message = record[messageKey];
      delete record[messageKey];
    }
  } else if (record.message === undefined) {
    // pino writes no msg for log.info({ fields }) alone; an event still needs one.
    record.message = "";
  }
  if (record.time !== undefined && record.timestamp === undefined) {
    record.timestamp = record.time;
    delete record.time;
  }
  if (serviceKey in record && record.service === undefined) {
    record.service = record[serviceKey];
    delete record[serviceKey];
  }
  return record;
}

/** A pino destination (write, flush, end) backed by a Sluice logger. */
export class SluiceDestination {
  constructor(
    readonly logger: SluiceLogger,
    /** Passed to pinoLineToRecord, whose defaults ("name", "msg") apply when undefined. */
    private readonly serviceKey?: string,
    private readonly messageKey?: string,
  ) {}

  /** pino calls this with one JSON line per log call; it returns at once (the logger buffers). */
  write(chunk: string): boolean {
    let start = 0;
    while (start < chunk.length) {
      let end = chunk.indexOf("\n", start);
      if (end < 0) end = chunk.length;
      if (end > start) this.logger.log(pinoLineToRecord(chunk.slice(start, end), this.serviceKey, this.messageKey));
      start = end + 1;
    }
    return true;
  }

  /** pino's logger.flush(cb) calls this: resolves (and calls back) once everything written so far is acked. */
  flush(callback?: (error?: Error) => void): Promise<void> {
    const flushed = this.logger.flush();
    if (callback) flushed.then(() => callback(), (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))));
    return flushed;
  }

  /** Flushes and closes the logger (the stream's end). */
  end(): Promise<LoggerStats> {
    return this.logger.close();
  }
}

/** A destination for `pino(options, sluiceDestination({ servers, ... }))`; pass `logger` to share an existing Sluice logger. */
export function sluiceDestination(options: SluiceDestinationOptions & { logger?: SluiceLogger }): SluiceDestination {
  const { serviceKey, messageKey, logger, ...loggerOptions } = options;
  return new SluiceDestination(logger ?? createLogger(loggerOptions), serviceKey, messageKey);
}
