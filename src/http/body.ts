// Reads a request body under a byte cap, and decompresses it with a cap on the output
// (gzip and deflate as a stream with a running count, zstd stopped by zlib at the cap),
// so neither a large body nor a gzip bomb can grow memory past its bound.

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

/** Content-Encoding -> how the body is inflated; "identity" (or no header) is taken as sent. */
const INFLATE_FORMATS = new Map<string, "gzip" | "deflate" | "zstd">([
  ["gzip", "gzip"],
  ["x-gzip", "gzip"],
  ["deflate", "deflate"],
  ["zstd", "zstd"],
]);

export async function readRequestBody(request: Request, limits: BodyLimits): Promise<Uint8Array> {
  const encoding = (request.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  const format = INFLATE_FORMATS.get(encoding);
  if (format === undefined && encoding !== "identity") throw new HttpError(415, "unsupported_encoding", `Content-Encoding ${JSON.stringify(encoding)} is not supported; use gzip, deflate, zstd or none`);
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  const tooLarge = () => new HttpError(413, "body_too_large", `request body is over the ${limits.bodyBytesMax}-byte limit`);
  if (Number.isFinite(declared) && declared > limits.bodyBytesMax) throw tooLarge();
  if (!request.body) return new Uint8Array(0);
  const raw = await readCapped(request.body, limits.bodyBytesMax, tooLarge);
  if (format === undefined) return raw;
  const tooLargeInflated = () => new HttpError(413, "decompressed_too_large", `decompressed body is over the ${limits.decompressedBytesMax}-byte limit`);
  try {
    if (format === "zstd") {
      const inflated = await zstdInflate(raw, { maxOutputLength: limits.decompressedBytesMax });
      return new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength);
    }
    return await readCapped(new Blob([raw]).stream().pipeThrough(new DecompressionStream(format)), limits.decompressedBytesMax, tooLargeInflated);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // zstd's maxOutputLength stops inflation at the cap with this code.
    if ((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE") throw tooLargeInflated();
    throw new HttpError(400, "bad_compression", `body is not valid ${format}: ${(error as Error).message}`);
  }
}
