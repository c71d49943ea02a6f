// `GET /api/v1/logs/export`: every match of a search as NDJSON or CSV, streamed a page
// at a time. The stream is pulled: the next page is fetched only when the client has
// read the last one, so a slow reader holds one page of memory, not the result. Each
// record carries the cursor that resumes the export right after it.

import type { StoredEvent } from "../protocol/event.ts";
import { describe } from "../actors/supervisor.ts";
import { API_FIELDS, encodeCursor, type ApiField, type SearchRequest } from "./filter.ts";
import { ClientGoneError, type QueryGateway, type QueryOptions } from "./query-gateway.ts";
import { eventToJson } from "./event-json.ts";
import { HttpError } from "../http/errors.ts";

export const EXPORT_FORMATS = ["ndjson", "csv"] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/** Events fetched per page: one page is what an export holds in memory. */
export const EXPORT_PAGE_EVENTS = 1_000;
/** Exports streaming at once, node-wide; more get 503 with Retry-After. */
export const EXPORTS_IN_FLIGHT_MAX = 8;

const encoder = new TextEncoder();

/** A CSV cell (RFC 4180): quoted when it holds a comma, quote or line break. */
export function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? "" : typeof value === "string" ? value : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvHeader(fields: readonly ApiField[]): string {
  return `${[...fields, "cursor"].map(csvCell).join(",")}\r\n`;
}

export function csvRow(event: StoredEvent, fields: readonly ApiField[], cursor: string): string {
  const json = eventToJson(event, fields);
  return `${[...fields.map((field) => csvCell(json[field])), csvCell(cursor)].join(",")}\r\n`;
}

export function ndjsonRow(event: StoredEvent, fields: readonly ApiField[] | undefined, cursor: string): string {
  return `${JSON.stringify({ ...eventToJson(event, fields), cursor })}\n`;
}

export class Exporter {
  private active = 0;
  readonly counters = { exports: 0, events: 0, partial: 0, cancelled: 0, overloaded: 0 };

  constructor(private readonly gateway: QueryGateway) {}

  snapshot(): Record<string, unknown> {
    return { active: this.active, ...this.counters };
  }

  /** The export's response; a page missing shards ends the stream with an error record (NDJSON) or a cut body (CSV), never a silent gap. */
  open(tenant: string, request: SearchRequest, format: ExportFormat, options: QueryOptions): Response {
    if (this.active >= EXPORTS_IN_FLIGHT_MAX) {
      this.counters.overloaded++;
      throw new HttpError(503, "too_many_exports", `${EXPORTS_IN_FLIGHT_MAX} exports are streaming`, 5);
    }
    this.active++;
    this.counters.exports++;
    const fields = format === "csv" ? (request.fields ?? (Object.keys(API_FIELDS) as ApiField[])) : request.fields;
    let cursor = request.cursor;
    let headerSent = format !== "csv";
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.active--;
    };
    const stream = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          try {
            let text = "";
            if (!headerSent) {
              text += csvHeader(fields!);
              headerSent = true;
            }
            const page = await this.gateway.searchPage(tenant, { ...request, limit: EXPORT_PAGE_EVENTS, cursor }, options);
            for (const row of page.merged.rows) {
              const rowCursor = encodeCursor({ ts: row.timestampUs, id: row.id }, request.order);
              text += format === "csv" ? csvRow(row, fields!, rowCursor) : ndjsonRow(row, fields, rowCursor);
            }
            this.counters.events += page.merged.rows.length;
            if (page.scatter.missing.length > 0) {
              this.counters.partial++;
              const error = { code: "partial", message: `shards ${page.scatter.missing.map((shard) => `${shard.shard} (${shard.reason})`).join(", ")} did not answer; resume with the last record's cursor`, missing_shards: page.scatter.missing };
              if (format === "ndjson") {
                controller.enqueue(encoder.encode(`${text}${JSON.stringify({ error })}\n`));
                controller.close();
              } else {
                if (text) controller.enqueue(encoder.encode(text));
                controller.error(new Error(error.message));
              }
              finish();
              return;
            }
            if (text) controller.enqueue(encoder.encode(text));
            if (!page.merged.nextCursor) {
              controller.close();
              finish();
              return;
            }
            cursor = page.merged.nextCursor;
          } catch (error) {
            if (error instanceof ClientGoneError) this.counters.cancelled++;
            finish();
            if (format === "ndjson" && !(error instanceof ClientGoneError)) {
              // The status line is gone with the first page: say why in the body, then end.
              const code = error instanceof HttpError ? error.code : "failed";
              controller.enqueue(encoder.encode(`${JSON.stringify({ error: { code, message: describe(error) } })}\n`));
              controller.close();
            } else controller.error(error);
          }
        },
        cancel: () => {
          this.counters.cancelled++;
          finish();
        },
      },
      // One page queued at most: the next is fetched when the client has taken it.
      { highWaterMark: 0 },
    );
    return new Response(stream, {
      headers: {
        "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
        "cache-control": "no-store",
      },
    });
  }
}
