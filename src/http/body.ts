// Reads a request body under a byte cap, and decompresses it as a stream with a
// running cap on the output, so neither a large body nor a gzip bomb can grow memory
// past its bound.

import { promisify } from "node:util";
import { zstdDecompress } from "node:zlib";
import { HttpError } from "./errors.ts";

/** zstd off the event loop (zlib's pool), stopped at the output cap rather than inflated in full first. */
const zstdInflate = promisify(zstdDecompress);

export interface BodyLimits {
  bodyBytesMax: number;
  decompressedBytesMax: number;
}

/** Reads a whole stream, cancelling it and throwing `what()` once it passes `cap` bytes. */
export async function readCapped(stream: ReadableStream<Uint8Array>, cap: number, what: () => Error): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > cap) {
        await reader.cancel().catch(() => undefined);
        throw what();
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

const ENCODINGS = new Set(["identity", "gzip", "x-gzip", "deflate", "zstd"]);

export async function readRequestBody(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  if (!ENCODINGS.has(encoding)) throw new HttpError(415, "unsupported_encoding", `Content-Encoding ${JSON.stringify(encoding)} is not supported; use gzip, deflate, zstd or none`);
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  const tooLarge = () => new HttpError(413, "body_too_large", `request body is over the ${limits.bodyBytesMax}-byte limit`);
  if (Number.isFinite(declared) && declared > limits.bodyBytesMax) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  const raw = await readCapped(request.body, limits.bodyBytesMax, tooLarge);
  if (encoding === "identity") return raw;
  const tooLargeInflated = () => new HttpError(413, "decompressed_too_large", `decompressed body is over the ${limits.decompressedBytesMax}-byte limit`);
  if (encoding === "zstd") {
    try {
      const inflated = await zstdInflate(raw, { maxOutputLength: limits.decompressedBytesMax });
      return new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    } catch (error) {
      if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw tooLargeInflated();
      throw new HttpError(400, "bad_compression", `body is not valid zstd: ${(error as Error).message}`);
    }
  }
  const format = encoding === "deflate" ? "deflate" : "gzip";
  const inflated = new Blob([raw]).stream().pipeThrough(new DecompressionStream(format));
  try {
    return await readCapped(inflated, limits.decompressedBytesMax, tooLargeInflated);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    throw new HttpError(400, "bad_compression", `body is not valid ${format}: ${(error as Error).message}`);
  }
}
