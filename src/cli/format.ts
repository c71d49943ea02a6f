// What logctl prints: pure functions from API answers and counters to text, so every
// output shape is tested without a node or a terminal.

import type { ApiEvent, ClientError } from "./client.ts";
import { assert } from "../actors/actor.ts";

/** One rejected record of an ingest run, numbered in the input (line, or element of a JSON array). */
export interface InputRejection {
  line: number;
  error: string;
}

/** Counters of an ingest run, as progress and summary print them. */
export interface IngestTally {
  /** Input lines (or array elements) handed to the node so far, blank ones included. */
  linesSent: number;
  accepted: number;
  rejected: number;
  /** The first rejections, absolute numbers, in input order. */
  rejections: InputRejection[];
  chunks: number;
}

/** Control characters (except tab) written as escapes, so a log line cannot move the cursor or recolor the terminal. */
export function escapeControls(text: string): string {
  return text.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, (char) => {
    if (char === "\n") return "\\n";
    if (char === "\r") return "\\r";
    return `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}

/** `TIMESTAMP LEVEL service@hostname message`, one line whatever the message holds. */
export function formatEventLine(event: ApiEvent): string {
  const source = event.hostname ? `${event.service || "-"}@${event.hostname}` : event.service || "-";
  return `${event.timestamp} ${event.level.padEnd(5)} ${escapeControls(source)} ${escapeControls(event.message)}`;
}

/** `1.5 KiB`, `12.0 MiB`: binary units, one decimal above bytes. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** `12,345`: thousands separated, locale-independent. */
export function formatCount(count: number): string {
  return Math.round(count).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** The line logctl prints for a failed request, after `logctl: `. */
export function formatClientError(error: ClientError): string {
  switch (error.kind) {
    case "http":
      return `${error.status} ${error.code}: ${error.message}`;
    case "unreachable":
      return `cannot reach the node at ${originOf(error.url)}: ${error.message} (is it running? set --url or SLUICE_URL)`;
    case "timeout":
      return `the node at ${originOf(error.url)} did not answer within ${error.timeoutMs} ms`;
    case "bad_response":
      return `the node at ${originOf(error.url)} answered ${error.status} with something logctl does not understand: ${error.message}`;
    case "aborted":
      return `request to ${originOf(error.url)} was cancelled`;
  }
}

function originOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.origin}${parsed.pathname.replace(/\/api\/v1\/.*$/, "")}`;
}

/** `partial: missing shards 1 (timeout), 3 (...)` for a search the node could not complete. */
export function formatMissingShards(missing: readonly { shard: number; reason: string }[] | undefined): string {
  const list = (missing ?? []).map((entry) => `${entry.shard} (${entry.reason})`).join(", ");
  return `partial: missing shards ${list || "(not named)"}; results may be incomplete`;
}

/** `sent 10,000 lines, accepted 9,998, rejected 2, 5,123 lines/s`. */
export function formatIngestProgress(tally: IngestTally, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (tally.linesSent * 1000) / elapsedMs : 0;
  return `sent ${formatCount(tally.linesSent)} lines, accepted ${formatCount(tally.accepted)}, rejected ${formatCount(tally.rejected)}, ${formatCount(rate)} lines/s`;
}

/** `1 line`, `2,000 lines`. */
export function plural(count: number, noun: string): string {
  return `${formatCount(count)} ${noun}${count === 1 ? "" : "s"}`;
}

/** The end-of-run report: counts, then the first rejections with their numbers in the input. */
export function formatIngestSummary(input: { source: string; unit: "line" | "element"; tally: IngestTally; elapsedMs: number }): string[] {
  const { tally, unit } = input;
  const seconds = (input.elapsedMs / 1000).toFixed(1);
  const lines = [
    `${input.source}: accepted ${formatCount(tally.accepted)}, rejected ${formatCount(tally.rejected)} (${plural(tally.linesSent, unit)} in ${plural(tally.chunks, "request")}, ${seconds} s)`,
  ];
  for (const rejection of tally.rejections) lines.push(`  ${unit} ${rejection.line}: ${escapeControls(rejection.error)}`);
  const unshown = tally.rejected - tally.rejections.length;
  if (unshown > 0) lines.push(`  ... and ${formatCount(unshown)} more rejected`);
  return lines;
}

/** The parts of /api/v1/system/health that `logctl status` summarizes; every field may be missing from an older or newer node. */
interface HealthReport {
  status?: string;
  ingestion_rate?: number;
  storage_utilization?: {
    segments?: number;
    segment_rows?: number;
    segment_bytes?: number;
    memtable_rows?: number;
    wal?: { available?: boolean; messages?: number; bytes?: number; max_bytes?: number; error?: string };
    disk?: { total_bytes?: number; free_bytes?: number };
  };
  query_latency?: { p50_ms?: number; p99_ms?: number; count?: number };
  nats?: { version?: string; connected?: boolean };
  actors?: { name?: string; state?: string; restarts?: Record<string, number>; lastError?: string }[];
  warnings?: string[];
}

const LABEL_WIDTH = 11;
const row = (label: string, text: string) => `${label.padEnd(LABEL_WIDTH)} ${text}`;
const count = (value: number | undefined) => (value === undefined ? "?" : formatCount(value));
const bytes = (value: number | undefined) => (value === undefined ? "?" : formatBytes(value));

/** A short human summary of a node's health, one fact per line. */
export function formatHealth(health: Record<string, unknown>): string[] {
  const report = health as HealthReport;
  const storage = report.storage_utilization ?? {};
  const wal = storage.wal ?? {};
  const latency = report.query_latency ?? {};
  const lines = [
    row("status", report.status ?? "unknown"),
    row("ingestion", `${report.ingestion_rate ?? "?"} events/s`),
    row("storage", `${count(storage.segments)} segments, ${count(storage.segment_rows)} rows, ${bytes(storage.segment_bytes)}; ${count(storage.memtable_rows)} rows not yet sealed`),
    row("wal", wal.available === false ? `unavailable${wal.error ? `: ${wal.error}` : ""}` : `${count(wal.messages)} messages, ${bytes(wal.bytes)} of ${bytes(wal.max_bytes)}`),
  ];
  if (storage.disk?.free_bytes !== undefined) lines.push(row("disk", `${bytes(storage.disk.free_bytes)} free of ${bytes(storage.disk.total_bytes)}`));
  lines.push(row("query", `p50 ${latency.p50_ms ?? "?"} ms, p99 ${latency.p99_ms ?? "?"} ms over ${count(latency.count)} queries`));
  if (report.nats) lines.push(row("nats", `${report.nats.version ?? "?"}, ${report.nats.connected ? "connected" : "DISCONNECTED"}`));
  lines.push(...formatActors(report.actors ?? []));
  const warnings = report.warnings ?? [];
  if (warnings.length === 0) lines.push(row("warnings", "none"));
  for (const warning of warnings) lines.push(row("warning", warning));
  return lines;
}

function formatActors(actors: NonNullable<HealthReport["actors"]>): string[] {
  const down = actors.filter((actor) => actor.state !== "running");
  if (down.length === 0) return [row("actors", `all ${actors.length} running`)];
  const lines = [row("actors", `${actors.length - down.length} of ${actors.length} running; not running:`)];
  for (const actor of down) {
    const restarts = Object.values(actor.restarts ?? {}).reduce((sum, value) => sum + value, 0);
    const lastError = actor.lastError ? `, last error: ${actor.lastError}` : "";
    lines.push(row("", `${actor.name ?? "?"} (${actor.state ?? "?"}, ${restarts} restarts${lastError})`));
  }
  return lines;
}

/** A column of formatTable: its header, and whether its cells (counts) line up on the right. */
export interface TableColumn {
  header: string;
  alignRight?: boolean;
}

/**
 * A header row and the rows under it, columns two spaces apart and each as wide as its
 * widest cell, trailing spaces trimmed. Cells are escaped, so a name the node sends
 * cannot move the cursor or break the layout.
 */
export function formatTable(columns: readonly TableColumn[], rows: readonly (readonly string[])[]): string[] {
  for (const cells of rows) assert(cells.length === columns.length, `formatTable: a row of ${cells.length} cells under ${columns.length} columns`);
  const table = [columns.map((column) => column.header), ...rows.map((cells) => cells.map(escapeControls))];
  const widths = columns.map((_, index) => Math.max(...table.map((cells) => cells[index].length)));
  return table.map((cells) => cells.map((cell, index) => (columns[index].alignRight ? cell.padStart(widths[index]) : cell.padEnd(widths[index]))).join("  ").trimEnd());
}
