// The input of `logctl ingest`: a file or stdin, read as a stream, its format resolved,
// and cut into chunks. Only --format json reads the input whole (a JSON array cannot
// be split before it is parsed), and only up to INGEST_JSON_FILE_BYTES_MAX.

import { stat } from "node:fs/promises";
import { INGEST_CHUNK_BYTES_MAX, INGEST_JSON_FILE_BYTES_MAX, INGEST_SNIFF_BYTES_MAX } from "./limits.ts";
import { formatFromPath, sniffFormat, type BodyFormat } from "./input-format.ts";
import { LineChunker, type LineChunk } from "./line-chunker.ts";
import { formatBytes } from "./format.ts";
import type { IngestFormat } from "./options.ts";

/** An input that could not be read as asked; exit status 1, message after `logctl: `. */
export class InputError extends Error {
  readonly code = "bad_input";
}

/** What logctl needs of a stream reader (Bun's file and stdin streams differ in their declared types). */
interface ByteReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
}

export interface OpenedInput {
  /** What the summary calls it: the path, or "stdin". */
  name: string;
  format: BodyFormat;
  chunks: AsyncIterable<LineChunk>;
}

/** Opens the input, resolves its format and returns its chunks of at most `batchLines` lines. */
export async function openInput(path: string, format: IngestFormat, batchLines: number): Promise<OpenedInput> {
  const name = path === "-" ? "stdin" : path;
  let resolved: BodyFormat | undefined = format === "auto" ? formatFromPath(path) : format;
  const stream = path === "-" ? Bun.stdin.stream() : await openFile(path, resolved === "json");
  const reader = stream.getReader();
  let head: Uint8Array[] = [];
  if (resolved === undefined) ({ format: resolved, head } = await sniff(reader));
  const bytes = prepend(head, reader);
  const chunks = resolved === "json" ? jsonChunks(name, bytes, batchLines) : lineChunks(bytes, batchLines);
  return { name, format: resolved, chunks };
}

async function openFile(path: string, whole: boolean): Promise<ReadableStream<Uint8Array>> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new InputError(`cannot read ${path}: ${code === "ENOENT" ? "no such file" : error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  if (info.isDirectory()) throw new InputError(`cannot read ${path}: it is a directory`);
  if (whole && info.size > INGEST_JSON_FILE_BYTES_MAX) throw tooLargeForJson(path);
  return Bun.file(path).stream();
}

/** Reads until the content tells its format (or INGEST_SNIFF_BYTES_MAX); returns what it read. */
async function sniff(reader: ByteReader): Promise<{ format: BodyFormat; head: Uint8Array[] }> {
  const head: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (value) {
      head.push(value);
      bytes += value.byteLength;
    }
    const joined = head.length === 1 ? head[0] : Buffer.concat(head);
    const format = sniffFormat(joined, done || bytes >= INGEST_SNIFF_BYTES_MAX);
    if (format) return { format, head };
  }
}

async function* prepend(head: Uint8Array[], reader: ByteReader): AsyncGenerator<Uint8Array> {
  yield* head;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return;
    if (value) yield value;
  }
}

async function* lineChunks(bytes: AsyncIterable<Uint8Array>, batchLines: number): AsyncGenerator<LineChunk> {
  const chunker = new LineChunker({ linesMax: batchLines, bytesMax: INGEST_CHUNK_BYTES_MAX });
  for await (const piece of bytes) yield* chunker.push(piece);
  yield* chunker.finish();
}

/**
 * A JSON array (or one object) read whole, re-sent as arrays of `batchLines` elements.
 * Each element becomes one "line" of the chunk, so the node's element numbers convert
 * to the input's the same way line numbers do.
 */
async function* jsonChunks(name: string, bytes: AsyncIterable<Uint8Array>, batchLines: number): AsyncGenerator<LineChunk> {
  const text = await readWhole(name, bytes);
  let value: unknown;
  try {
    value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new InputError(`${name} is not JSON (${reason}); for one JSON object per line use --format ndjson`, { cause: error });
  }
  const elements = Array.isArray(value) ? value : [value];
  let chunk = newJsonChunk(0, 1);
  for (let index = 0; index < elements.length; index++) {
    const line = JSON.stringify(elements[index]);
    const lineBytes = Buffer.byteLength(line) + 1;
    if (chunk.lines.length > 0 && (chunk.lines.length >= batchLines || chunk.bytes + lineBytes > INGEST_CHUNK_BYTES_MAX)) {
      yield chunk;
      chunk = newJsonChunk(chunk.index + 1, index + 1);
    }
    chunk.lines.push(line);
    chunk.bytes += lineBytes;
    chunk.records++;
  }
  if (chunk.lines.length > 0) yield chunk;
}

function newJsonChunk(index: number, firstLine: number): LineChunk {
  return { index, firstLine, lines: [], bytes: 0, records: 0, rejected: [] };
}

async function readWhole(name: string, bytes: AsyncIterable<Uint8Array>): Promise<string> {
  const pieces: Uint8Array[] = [];
  let total = 0;
  for await (const piece of bytes) {
    total += piece.byteLength;
    if (total > INGEST_JSON_FILE_BYTES_MAX) throw tooLargeForJson(name);
    pieces.push(piece);
  }
  return new TextDecoder().decode(Buffer.concat(pieces));
}

function tooLargeForJson(name: string): InputError {
  return new InputError(
    `${name} is larger than ${formatBytes(INGEST_JSON_FILE_BYTES_MAX)}, the most --format json reads whole; convert it to NDJSON (one object per line, e.g. jq -c '.[]'), which is streamed`,
  );
}
