// IngestGateway: HTTP intake. Validates and normalizes a body, publishes it to the
// WAL as FlatBuffers batches, and answers only after JetStream acked every batch
// (Invariant 1). Bounded by requests and bytes in flight; overload is a 429.

import type { JetStreamClient } from "@nats-io/jetstream";
import { HttpError, jsonResponse } from "../http/errors.ts";
import { readRequestBody } from "../http/body.ts";
import { describe } from "../actors/supervisor.ts";
import { parseBodyAs, type BodyFormat, type ParsedBody } from "./body.ts";
import { INGEST_HTTP_PAUSE_LAG_MIN_MS, IDEMPOTENCY_KEY_CHARS_MAX, INGEST_BODY_BYTES_MAX, INGEST_DECOMPRESSED_BYTES_MAX, INGEST_LABEL_CHARS_MAX } from "./limits.ts";
import { publishEvents, roundRobin } from "./wal-publisher.ts";
import type { Admission } from "../actors/flow-controller.ts";

/** Requests being read, parsed or published at once; beyond it, 429. */
export const INGEST_REQUESTS_IN_FLIGHT_MAX = 256;
/** Decompressed body bytes held at once across requests; beyond it, 429. */
export const INGEST_BYTES_IN_FLIGHT_MAX = 1024 * 1024 * 1024;
/** How long one batch waits for its JetStream ack before the request answers 503. */
export const INGEST_PUBLISH_TIMEOUT_MS = 10_000;

const CONTENT_TYPES: Record<string, BodyFormat> = {
  "application/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
  "application/x-jsonlines": "ndjson",
  "text/plain": "text",
};

export interface IngestGatewayOptions {
  js: JetStreamClient;
  /** False while the NATS connection is down: requests then fail fast with 503 instead of waiting out the publish timeout. */
  connected: () => boolean;
  /** The node's flow state: while it is paused and at least INGEST_HTTP_PAUSE_LAG_MIN_MS behind, requests get 429. */
  admission: () => Admission;
  shards: number;
  maxPayloadBytes: number;
  log: (line: string) => void;
}

export class IngestGateway {
  readonly name = "ingest-gateway";
  private requestsInFlight = 0;
  private bytesInFlight = 0;
  private readonly nextShard: () => number;
  private counters = { requests: 0, accepted: 0, rejected: 0, overloaded: 0, paused: 0, unavailable: 0 };

  constructor(private readonly options: IngestGatewayOptions) {
    this.nextShard = roundRobin(options.shards);
  }

  snapshot(): Record<string, unknown> {
    return { name: this.name, requestsInFlight: this.requestsInFlight, bytesInFlight: this.bytesInFlight, ...this.counters };
  }

  async ingest(request: Request, url: URL, tenant: string): Promise<Response> {
    this.counters.requests++;
    const kind = bodyKind(request.headers.get("content-type"));
    if (!this.options.connected()) {
      this.counters.unavailable++;
      throw new HttpError(503, "wal_unavailable", "the NATS connection is down; the WAL cannot acknowledge events right now", 1);
    }
    const admission = this.options.admission();
    if (!admission.open && admission.lagMs >= INGEST_HTTP_PAUSE_LAG_MIN_MS) {
      this.counters.paused++;
      throw new HttpError(429, "ingest_paused", `the node is ${Math.round(admission.lagMs)} ms behind on storing events; retry later`, Math.ceil(admission.retryAfterMs / 1000));
    }
    if (this.requestsInFlight >= INGEST_REQUESTS_IN_FLIGHT_MAX) {
      this.counters.overloaded++;
      throw new HttpError(429, "too_many_requests", `${INGEST_REQUESTS_IN_FLIGHT_MAX} ingest requests are in flight`, 1);
    }
    this.requestsInFlight++;
    let held = 0;
    try {
      const body = await readRequestBody(request, { bodyBytesMax: INGEST_BODY_BYTES_MAX, decompressedBytesMax: INGEST_DECOMPRESSED_BYTES_MAX });
      if (this.bytesInFlight + body.byteLength > INGEST_BYTES_IN_FLIGHT_MAX) {
        this.counters.overloaded++;
        throw new HttpError(429, "too_many_bytes", `ingest holds ${this.bytesInFlight} bytes in flight; the bound is ${INGEST_BYTES_IN_FLIGHT_MAX}`, 1);
      }
      held = body.byteLength;
      this.bytesInFlight += held;
      const parsed = parseBody(kind, new TextDecoder().decode(body), url);
      return await this.publish(parsed, tenant, request.headers.get("idempotency-key"));
    } finally {
      this.requestsInFlight--;
      this.bytesInFlight -= held;
    }
  }

  private async publish(parsed: ParsedBody, tenant: string, idempotencyKey: string | null): Promise<Response> {
    const rejected = parsed.rejected;
    const rejectedCount = parsed.rejectedCount;
    this.counters.rejected += rejectedCount;
    if (parsed.events.length === 0) {
      throw new HttpError(400, "no_valid_events", `none of the ${rejectedCount} event(s) is valid`, undefined, { accepted: 0, rejected });
    }
    if (idempotencyKey !== null && (idempotencyKey.length === 0 || idempotencyKey.length > IDEMPOTENCY_KEY_CHARS_MAX)) {
      throw new HttpError(400, "bad_idempotency_key", `Idempotency-Key must be 1..${IDEMPOTENCY_KEY_CHARS_MAX} characters`);
    }
    const outcome = await publishEvents(
      { js: this.options.js, tenant, maxPayloadBytes: this.options.maxPayloadBytes, publishTimeoutMs: INGEST_PUBLISH_TIMEOUT_MS, nextShard: this.nextShard },
      parsed.events,
      idempotencyKey ? `${tenant}:${idempotencyKey}` : undefined,
    );
    this.counters.accepted += outcome.accepted;
    if (outcome.failed > 0) {
      this.counters.unavailable++;
      this.options.log(`ingest: ${outcome.failed} event(s) not acknowledged by JetStream: ${describe(outcome.error)}`);
      throw new HttpError(
        503,
        "wal_unavailable",
        `JetStream did not acknowledge ${outcome.failed} of ${parsed.events.length} event(s): ${describe(outcome.error)}. ${outcome.accepted} were stored; retry with the same Idempotency-Key to avoid duplicating them`,
        1,
        { accepted: outcome.accepted, rejected },
      );
    }
    return jsonResponse({ status: "success", message: "Log received", accepted: outcome.accepted, rejected, ...(rejectedCount > rejected.length ? { rejected_total: rejectedCount } : {}) }, 202);
  }
}

function bodyKind(contentType: string | null): BodyFormat {
  const mediaType = (contentType ?? "").split(";")[0].trim().toLowerCase();
  const kind = CONTENT_TYPES[mediaType];
  if (!kind) {
    throw new HttpError(415, "unsupported_media_type", `Content-Type ${JSON.stringify(mediaType || "(none)")} is not supported; use application/json, application/x-ndjson or text/plain`);
  }
  return kind;
}

function labelParam(url: URL, name: string): string {
  const value = url.searchParams.get(name) ?? "";
  if (value.length > INGEST_LABEL_CHARS_MAX) throw new HttpError(400, "bad_parameter", `${name} is ${value.length} characters, over the ${INGEST_LABEL_CHARS_MAX} limit`);
  return value;
}

/** The body's events; a body the parser refuses whole throws an IngestError (the HTTP edge maps it). */
function parseBody(kind: BodyFormat, text: string, url: URL): ParsedBody {
  return parseBodyAs(kind, text, () => ({ service: labelParam(url, "service"), hostname: labelParam(url, "hostname"), nowUs: Date.now() * 1000 }));
}
