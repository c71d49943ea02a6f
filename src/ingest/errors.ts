// Operating failures of the ingest path: a request body that cannot be taken at all.
// (A bad record inside an otherwise good body is not an error: it is reported as a
// rejection next to the accepted events.)

/** Why a whole request body was refused. */
export type IngestErrorCode = "invalid_json" | "empty_body" | "line_too_long" | "too_many_events";

/** HTTP status for each code: 413 when a bound was exceeded, 400 when the body is malformed. */
const STATUS_BY_CODE: Readonly<Record<IngestErrorCode, 400 | 413>> = {
  invalid_json: 400,
  empty_body: 400,
  line_too_long: 413,
  too_many_events: 413,
};

/**
 * A request body refused as a whole. `message` names what is wrong and where (line
 * number, limit); `status` is the HTTP status the gateway answers with.
 */
export class IngestError extends Error {
  override readonly name = "IngestError";
  readonly code: IngestErrorCode;
  readonly status: 400 | 413;

  constructor(code: IngestErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.status = STATUS_BY_CODE[code];
  }
}
