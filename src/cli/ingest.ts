// `logctl ingest FILE|-`: streams an input to the node chunk by chunk, each chunk one
// request with an Idempotency-Key of the run id and chunk number, retrying overload
// (429/503) as the node asks, with progress on stderr and a summary at the end.
//
// Exit status: 0 when every chunk was taken (lines rejected one by one are reported,
// not fatal), 1 on a hard failure: unreachable node, an error other than per-line
// rejections, retries exhausted, or an unreadable input.

import { randomUUID } from "node:crypto";
import { WAL_DUPLICATE_WINDOW_MS } from "../protocol/limits.ts";
import type { ClientError, IngestAnswer, PostLogsRequest, Result, SluiceClient } from "./client.ts";
import { formatClientError, formatIngestProgress, formatIngestSummary, type IngestTally, type InputRejection } from "./format.ts";
import { CONTENT_TYPES, type BodyFormat } from "./input-format.ts";
import { InputError, openInput, type OpenedInput } from "./ingest-input.ts";
import type { CliIo } from "./io.ts";
import { INGEST_PROGRESS_INTERVAL_MS, INGEST_REJECTIONS_SHOWN_MAX, RETRY_ATTEMPTS_MAX, RETRY_BACKOFF_BASE_MS, RETRY_DELAY_MAX_MS } from "./limits.ts";
import { absoluteLine, chunkBody, type LineChunk } from "./line-chunker.ts";
import type { CliCommand } from "./options.ts";

export type IngestCommand = Extract<CliCommand, { command: "ingest" }>;

/** What one chunk's answer means for the run: counts to add, or the error that ends it. */
export type ChunkOutcome = { ok: true; accepted: number; rejectedCount: number; rejections: InputRejection[] } | { ok: false; error: ClientError };

/** How every chunk of a run is sent. */
interface SendPlan {
  runId: string;
  format: BodyFormat;
  gzip: boolean;
  params?: Record<string, string>;
}

export async function runIngest(command: IngestCommand, io: CliIo, client: SluiceClient): Promise<number> {
  const startedMs = io.nowMs();
  let input: OpenedInput;
  try {
    input = await openInput(command.input, command.format, command.batchLines);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    io.stderr(`logctl: ${error.message}\n`);
    return 1;
  }
  if (input.format !== "text" && (command.service !== undefined || command.hostname !== undefined)) {
    io.stderr(`logctl: ${input.name} reads as ${input.format}; --service and --hostname apply to text lines only and are ignored\n`);
  }
  const plan: SendPlan = { runId: command.runId ?? randomUUID().replaceAll("-", ""), format: input.format, gzip: command.gzip, params: textParams(command, input.format) };
  const tally: IngestTally = { linesSent: 0, accepted: 0, rejected: 0, rejections: [], chunks: 0 };
  const progress = new ProgressLine(io, startedMs);
  let failure: string | undefined;
  try {
    failure = await sendAll(input.chunks, plan, tally, progress, client);
  } catch (error) {
    if (!(error instanceof InputError)) throw error;
    failure = error.message;
  }
  progress.finish();
  const unit = unitOf(input.format);
  const summary = { source: input.name, unit, tally, elapsedMs: io.nowMs() - startedMs } as const;
  if (command.json) await io.stdout(`${JSON.stringify(summaryJson(summary, plan, failure))}\n`);
  else await io.stdout(`${formatIngestSummary(summary).join("\n")}\n`);
  if (failure !== undefined) io.stderr(`logctl: ${failure}\n`);
  return failure === undefined ? 0 : 1;
}

function textParams(command: IngestCommand, format: BodyFormat): Record<string, string> | undefined {
  if (format !== "text") return undefined;
  return { ...(command.service !== undefined ? { service: command.service } : {}), ...(command.hostname !== undefined ? { hostname: command.hostname } : {}) };
}

/** Sends every chunk in order; returns the message of the failure that stopped the run, if one did. */
async function sendAll(chunks: AsyncIterable<LineChunk>, plan: SendPlan, tally: IngestTally, progress: ProgressLine, client: SluiceClient): Promise<string | undefined> {
  for await (const chunk of chunks) {
    let outcome: ChunkOutcome = { ok: true, accepted: 0, rejectedCount: 0, rejections: [] };
    if (chunk.records > 0) {
      const { result, attempts } = await postWithRetry(client, chunkRequest(chunk, plan), progress);
      outcome = interpretIngestResult(result, chunk);
      if (!outcome.ok) {
        const gaveUp = attempts > 1 ? ` (gave up after ${attempts} attempts)` : "";
        return `${formatClientError(outcome.error)}${gaveUp}\n${failedChunkHint(chunk, plan)}`;
      }
      tally.chunks++;
    }
    addOutcome(tally, chunk, outcome);
    progress.update(tally);
  }
  return undefined;
}

function chunkRequest(chunk: LineChunk, plan: SendPlan): PostLogsRequest {
  const text = plan.format === "json" ? `[${chunk.lines.join(",")}]` : chunkBody(chunk);
  return {
    body: new TextEncoder().encode(text),
    contentType: CONTENT_TYPES[plan.format],
    gzip: plan.gzip,
    idempotencyKey: `logctl-${plan.runId}-${chunk.index}`,
    params: plan.params,
  };
}

/** What a position in the input counts: elements of a JSON array, or lines. */
function unitOf(format: string): "element" | "line" {
  return format === "json" ? "element" : "line";
}

function failedChunkHint(chunk: LineChunk, plan: SendPlan): string {
  const unit = unitOf(plan.format);
  const last = chunk.firstLine + chunk.lines.length - 1;
  const where = last === chunk.firstLine ? `${unit} ${last}` : `${unit}s ${chunk.firstLine}-${last}`;
  const windowMinutes = WAL_DUPLICATE_WINDOW_MS / 60_000;
  return `logctl: stopped at request ${chunk.index + 1} (${where}); earlier requests were stored. Re-running with --run-id ${plan.runId} (same --batch-lines) within ${windowMinutes} minutes resends them without duplicates`;
}

async function postWithRetry(client: SluiceClient, request: PostLogsRequest, progress: ProgressLine): Promise<{ result: Result<IngestAnswer>; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    const result = await client.postLogs(request);
    if (result.ok) return { result, attempts: attempt };
    const delayMs = retryDelayMs(result.error, attempt);
    if (delayMs === null) return { result, attempts: attempt };
    progress.note(`logctl: ${formatClientError(result.error)}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${RETRY_ATTEMPTS_MAX})`);
    await progress.io.sleep(delayMs);
  }
}

/**
 * How long to wait before attempt `attempt + 1`, or null when the error is not worth
 * retrying (only 429 and 503 are) or the attempts are used up. Never sooner than the
 * node's Retry-After, never sooner than exponential backoff, never over RETRY_DELAY_MAX_MS.
 */
export function retryDelayMs(error: ClientError, attempt: number): number | null {
  if (error.kind !== "http" || (error.status !== 429 && error.status !== 503)) return null;
  if (attempt >= RETRY_ATTEMPTS_MAX) return null;
  const backoffMs = RETRY_BACKOFF_BASE_MS * 2 ** (attempt - 1);
  const askedMs = (error.retryAfterSeconds ?? 0) * 1000;
  return Math.min(RETRY_DELAY_MAX_MS, Math.max(backoffMs, askedMs));
}

/**
 * Reads a chunk's answer. A 400 no_valid_events (every record of the chunk refused)
 * is per-line rejections like any other, not a failure of the run.
 */
export function interpretIngestResult(result: Result<IngestAnswer>, chunk: LineChunk): ChunkOutcome {
  if (result.ok) {
    const rejected = Array.isArray(result.value.rejected) ? result.value.rejected : [];
    return { ok: true, accepted: result.value.accepted ?? 0, rejectedCount: result.value.rejected_total ?? rejected.length, rejections: toInputLines(chunk, rejected) };
  }
  const error = result.error;
  if (error.kind === "http" && error.status === 400 && error.code === "no_valid_events") {
    const rejected = Array.isArray(error.body.rejected) ? (error.body.rejected as IngestAnswer["rejected"]) : [];
    return { ok: true, accepted: 0, rejectedCount: chunk.records, rejections: toInputLines(chunk, rejected) };
  }
  return { ok: false, error };
}

function toInputLines(chunk: LineChunk, rejected: IngestAnswer["rejected"]): InputRejection[] {
  return rejected.map((entry) => ({ line: absoluteLine(chunk, entry.line), error: entry.error }));
}

/** Adds a chunk's counts to the run, keeping the first INGEST_REJECTIONS_SHOWN_MAX rejections in input order. */
export function addOutcome(tally: IngestTally, chunk: LineChunk, outcome: Extract<ChunkOutcome, { ok: true }>): void {
  tally.linesSent += chunk.lines.length;
  tally.accepted += outcome.accepted;
  tally.rejected += chunk.rejected.length + outcome.rejectedCount;
  const room = INGEST_REJECTIONS_SHOWN_MAX - tally.rejections.length;
  if (room <= 0) return;
  const merged = [...chunk.rejected, ...outcome.rejections].sort((left, right) => left.line - right.line);
  tally.rejections.push(...merged.slice(0, room));
}

function summaryJson(summary: { source: string; unit: string; tally: IngestTally; elapsedMs: number }, plan: SendPlan, failure: string | undefined): Record<string, unknown> {
  const { tally } = summary;
  return {
    source: summary.source,
    format: plan.format,
    run_id: plan.runId,
    accepted: tally.accepted,
    rejected: tally.rejected,
    [`${summary.unit}s`]: tally.linesSent,
    requests: tally.chunks,
    elapsed_ms: summary.elapsedMs,
    rejections: tally.rejections,
    ...(failure !== undefined ? { failure } : {}),
  };
}

/** The progress line on stderr: at most one per INGEST_PROGRESS_INTERVAL_MS, rewritten in place on a terminal. */
export class ProgressLine {
  private lastMs: number;
  private open = false;

  constructor(
    readonly io: CliIo,
    private readonly startedMs: number,
  ) {
    this.lastMs = startedMs;
  }

  update(tally: IngestTally): void {
    const nowMs = this.io.nowMs();
    if (nowMs - this.lastMs < INGEST_PROGRESS_INTERVAL_MS) return;
    this.lastMs = nowMs;
    const text = formatIngestProgress(tally, nowMs - this.startedMs);
    if (this.io.stderrIsTty) {
      this.io.stderr(`\r\x1b[K${text}`);
      this.open = true;
    } else this.io.stderr(`${text}\n`);
  }

  /** A message of its own line, even while a progress line is being rewritten. */
  note(text: string): void {
    this.finish();
    this.io.stderr(`${text}\n`);
  }

  finish(): void {
    if (this.open) this.io.stderr("\n");
    this.open = false;
  }
}
