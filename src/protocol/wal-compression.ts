// Compressed WAL messages. A producer may compress a WAL message's payload (any of the
// formats of subjects.ts: a FlatBuffers batch, NDJSON, JSON, text) and say so in a
// `Content-Encoding` header, as HTTP does. The consumer inflates it before it reads the
// format, with a cap on the inflated size so a small message cannot expand into
// gigabytes (a "gzip bomb"): inflation stops at the cap, it never runs to the end first.
//
//   publish: js.publish(subject, compressWalPayload(batch, "gzip"), { headers: h })  // h: Content-Encoding: gzip
//   consume: decompressWalPayload(message.data, "gzip") -> { ok: true, bytes } | { ok: false, code, error }

import { constants, gunzipSync, gzipSync, zstdCompressSync, zstdDecompressSync } from "node:zlib";
import { WAL_BATCH_BYTES_MAX } from "./limits.ts";

/** Header naming the compression of a WAL message's payload; absent or `identity` means none. */
export const CONTENT_ENCODING_HEADER = "Content-Encoding";

/** Compressions a WAL message may carry. zstd compresses logs better and faster; gzip is everywhere. */
export type WalEncoding = "gzip" | "zstd";
export const WAL_ENCODINGS: readonly WalEncoding[] = ["gzip", "zstd"];

/**
 * Largest inflated payload of one compressed WAL message, bytes. Equal to the largest
 * HTTP ingest body (INGEST_BODY_BYTES_MAX, 32 MiB): a NATS producer gets the same room
 * as an HTTP one. It is at least WAL_BATCH_BYTES_MAX (checked below), so any batch the
 * WAL carries uncompressed also passes compressed. A consumer inflates one message at
 * a time, so this is also the most memory one message can take before it is parsed.
 */
export const WAL_DECOMPRESSED_BYTES_MAX = 32 * 1024 * 1024;

if (WAL_DECOMPRESSED_BYTES_MAX < WAL_BATCH_BYTES_MAX) throw new Error("protocol limits: a compressed WAL message must be able to carry the largest batch");

/** zstd level for producers: 3 is zstd's default, ~5x on logs at hundreds of MB/s. */
const ZSTD_LEVEL = 3;
/** gzip level for producers: 6 is zlib's default balance of ratio and speed. */
const GZIP_LEVEL = 6;

export type WalDecompressErrorCode = "unknown_encoding" | "decompressed_too_large" | "corrupt_compression";

type WalDecompressResult = { ok: true; bytes: Uint8Array } | { ok: false; code: WalDecompressErrorCode; error: string };

function isWalEncoding(value: string): value is WalEncoding {
  return (WAL_ENCODINGS as readonly string[]).includes(value);
}

export function compressWalPayload(bytes: Uint8Array, encoding: WalEncoding): Uint8Array {
  return encoding === "gzip" ? gzipSync(bytes, { level: GZIP_LEVEL }) : zstdCompressSync(bytes, { params: { [constants.ZSTD_c_compressionLevel]: ZSTD_LEVEL } });
}

/**
 * Inflates a payload whose Content-Encoding header reads `encodingHeader` (trimmed,
 * any case). Never throws: an unknown encoding, a payload that inflates past
 * `limitBytes`, and corrupt or truncated data are each an error value naming it.
 */
export function decompressWalPayload(bytes: Uint8Array, encodingHeader: string, limitBytes = WAL_DECOMPRESSED_BYTES_MAX): WalDecompressResult {
  const encoding = encodingHeader.trim().toLowerCase();
  if (encoding === "" || encoding === "identity") return { ok: true, bytes };
  if (!isWalEncoding(encoding)) {
    return { ok: false, code: "unknown_encoding", error: `${CONTENT_ENCODING_HEADER} ${JSON.stringify(encodingHeader.slice(0, 64))} is not one of identity, ${WAL_ENCODINGS.join(", ")}` };
  }
  try {
    // maxOutputLength stops inflation at the cap (RangeError ERR_BUFFER_TOO_LARGE) instead of inflating everything first.
    const inflated = encoding === "gzip" ? gunzipSync(bytes, { maxOutputLength: limitBytes }) : zstdDecompressSync(bytes, { maxOutputLength: limitBytes });
    return { ok: true, bytes: new Uint8Array(inflated.buffer, inflated.byteOffset, inflated.byteLength) };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === "ERR_BUFFER_TOO_LARGE") {
      return { ok: false, code: "decompressed_too_large", error: `${encoding} payload of ${bytes.byteLength} bytes inflates past the limit of ${limitBytes} bytes` };
    }
    return { ok: false, code: "corrupt_compression", error: `${encoding} payload of ${bytes.byteLength} bytes does not inflate: ${error instanceof Error ? error.message : String(error)}` };
  }
}
