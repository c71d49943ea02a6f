// Which body format an ingest input is, and how each format is sent. Pure.

import type { IngestFormat } from "./options.ts";

/** A format logctl sends: what `auto` resolves to. */
export type BodyFormat = Exclude<IngestFormat, "auto">;

/** Content-Type of each body format, as IngestGateway reads it. */
export const CONTENT_TYPES: Record<BodyFormat, string> = {
  ndjson: "application/x-ndjson",
  json: "application/json",
  text: "text/plain; charset=utf-8",
};

const EXTENSION_FORMATS: Record<string, BodyFormat> = {
  ".ndjson": "ndjson",
  ".jsonl": "ndjson",
  ".json": "json",
  ".log": "text",
  ".txt": "text",
};

/** The format a file name implies, or undefined (stdin, or an extension that says nothing). */
export function formatFromPath(path: string): BodyFormat | undefined {
  if (path === "-") return undefined;
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  const dot = name.lastIndexOf(".");
  return dot > 0 ? EXTENSION_FORMATS[name.slice(dot)] : undefined;
}

/**
 * The format the first bytes of an input suggest: NDJSON when the first character
 * after whitespace (and a byte-order mark) is `{`, otherwise text. Undefined while
 * `head` holds only whitespace and `complete` is false: read more first.
 */
export function sniffFormat(head: Uint8Array, complete: boolean): BodyFormat | undefined {
  let index = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0;
  while (index < head.length && (head[index] === 0x20 || head[index] === 0x09 || head[index] === 0x0a || head[index] === 0x0d)) index++;
  if (index === head.length) return complete ? "text" : undefined;
  return head[index] === 0x7b ? "ndjson" : "text";
}
