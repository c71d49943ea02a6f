// Input bytes to ingest requests: splits a stream of bytes into lines and the lines
// into chunks bounded by a line count and a byte count, without ever holding more
// than one chunk and one partial line. Pure (no I/O): the caller pushes what it read
// and sends the chunks that come out.
//
// Line numbers match what an editor shows and what the node reports: every line is
// counted, blank or not; a `\r\n` terminator loses its `\r`; a last line without a
// newline is still a line; a byte-order mark at the very start is dropped. A line
// over the node's per-line limit is refused here (the node would refuse the whole
// request) and replaced by an empty line, so the numbering of the chunk still holds.

import { utf8LengthOver } from "../ingest/utf8.ts";
import { INGEST_LINE_BYTES_MAX } from "../ingest/limits.ts";
import { isBlank } from "../ingest/body.ts";
import type { InputRejection } from "./format.ts";

/** A run of consecutive input lines sent as one request. */
export interface LineChunk {
  /** 0-based number of the chunk in the input. */
  index: number;
  /** 1-based number, in the input, of the chunk's first line (set when the line arrives). */
  firstLine: number;
  /** Lines without terminators; a refused line is left as "". */
  lines: string[];
  /** Input bytes of the lines, one newline each included. */
  bytes: number;
  /** Non-blank lines: the records the node will count. */
  records: number;
  /** Lines refused before sending, numbered in the input. */
  rejected: InputRejection[];
}

export interface ChunkLimits {
  linesMax: number;
  bytesMax: number;
  /** Longest line, in UTF-8 bytes, without its terminator. */
  lineBytesMax?: number;
}

const NEWLINE = 10;
const RETURN = 13;
const BYTE_ORDER_MARK = "\ufeff";

/** The body of a chunk as the node reads it: lines joined by newlines, with a final one. */
export function chunkBody(chunk: LineChunk): string {
  return chunk.lines.length === 0 ? "" : `${chunk.lines.join("\n")}\n`;
}

/** Converts a chunk-relative 1-based line number (as the node reports it) to the input's. */
export function absoluteLine(chunk: LineChunk, relativeLine: number): number {
  return chunk.firstLine + relativeLine - 1;
}

export class LineChunker {
  private readonly lineBytesMax: number;
  private readonly decoder = new TextDecoder();
  /** Bytes of the current line seen so far, when it spans reads. */
  private pieces: Uint8Array[] = [];
  private pieceBytes = 0;
  /** The current line is over the limit: its bytes are being skipped up to the next newline. */
  private overlong = false;
  private linesSeen = 0;
  private chunkCount = 0;
  private current: LineChunk;
  private readonly ready: LineChunk[] = [];

  constructor(private readonly limits: ChunkLimits) {
    this.lineBytesMax = limits.lineBytesMax ?? INGEST_LINE_BYTES_MAX;
    if (!(limits.linesMax >= 1) || !(limits.bytesMax > this.lineBytesMax)) throw new Error("LineChunker: a chunk must hold at least one line of the maximum length");
    this.current = this.newChunk();
  }


  /** Takes the next bytes of the input; returns the chunks they completed. */
  push(bytes: Uint8Array): LineChunk[] {
    let start = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(NEWLINE, start);
      if (newline < 0) {
        this.keepPiece(bytes.subarray(start));
        break;
      }
      if (this.pieceBytes === 0 && !this.overlong) this.endLine(bytes.subarray(start, newline));
      else {
        this.keepPiece(bytes.subarray(start, newline));
        this.endLine(this.takePieces());
      }
      start = newline + 1;
    }
    return this.ready.splice(0);
  }

  /** Ends the input: the last line (even without a newline) and the last chunk. */
  finish(): LineChunk[] {
    if (this.pieceBytes > 0 || this.overlong) this.endLine(this.takePieces());
    if (this.current.lines.length > 0) this.closeChunk();
    return this.ready.splice(0);
  }

  private keepPiece(piece: Uint8Array): void {
    if (this.overlong) return;
    // One byte of slack for a `\r` that the terminator will drop.
    if (this.pieceBytes + piece.byteLength > this.lineBytesMax + 1) {
      this.overlong = true;
      this.pieces = [];
      this.pieceBytes = 0;
      return;
    }
    // A copy: the reader may reuse its buffer once push returns.
    this.pieces.push(piece.slice());
    this.pieceBytes += piece.byteLength;
  }

  private takePieces(): Uint8Array {
    const joined = this.pieces.length === 1 ? this.pieces[0] : Buffer.concat(this.pieces);
    this.pieces = [];
    this.pieceBytes = 0;
    return joined;
  }

  private endLine(raw: Uint8Array): void {
    this.linesSeen++;
    let end = raw.byteLength;
    if (end > 0 && raw[end - 1] === RETURN) end--;
    let line = this.overlong || end > this.lineBytesMax ? null : this.decoder.decode(raw.subarray(0, end));
    // Invalid UTF-8 decodes to U+FFFD, up to three bytes per input byte; the node measures the decoded line.
    if (line !== null && utf8LengthOver(line, this.lineBytesMax) > 0) line = null;
    this.overlong = false;
    if (this.linesSeen === 1 && line?.startsWith(BYTE_ORDER_MARK)) line = line.slice(1);
    const lineBytes = line === null ? 1 : end + 1;
    if (this.current.lines.length > 0 && this.current.bytes + lineBytes > this.limits.bytesMax) this.closeChunk();
    const chunk = this.current;
    if (chunk.lines.length === 0) chunk.firstLine = this.linesSeen;
    if (line === null) {
      chunk.rejected.push({ line: this.linesSeen, error: `line is over the ${this.lineBytesMax}-byte limit per line; not sent` });
      line = "";
    }
    chunk.lines.push(line);
    chunk.bytes += lineBytes;
    // Blank as the node defines it (lines hold no \n here).
    if (!isBlank(line, 0, line.length)) chunk.records++;
    if (chunk.lines.length >= this.limits.linesMax) this.closeChunk();
  }

  private closeChunk(): void {
    this.ready.push(this.current);
    this.current = this.newChunk();
  }

  private newChunk(): LineChunk {
    return { index: this.chunkCount++, firstLine: 0, lines: [], bytes: 0, records: 0, rejected: [] };
  }
}
