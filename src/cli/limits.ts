// Bounds of logctl, the admin/query CLI. Each value says why it is what it is; the
// relationships with the server's own limits are checked when the module loads, so a
// change on either side that would make logctl send what the node refuses fails fast.

import { IDEMPOTENCY_KEY_CHARS_MAX, INGEST_BODY_BYTES_MAX, INGEST_EVENTS_PER_REQUEST_MAX, INGEST_LINE_BYTES_MAX } from "../ingest/limits.ts";
import { SEARCH_LIMIT_MAX } from "../query/limits.ts";

/** Node URL when neither --url nor SLUICE_URL is given: a node started with its defaults. */
export const DEFAULT_URL = "http://127.0.0.1:8080";

/** How long one HTTP request may take, ms: the node's own publish and shard timeouts are 10 s, so this is generous headroom, not a hang. */
export const HTTP_REQUEST_TIMEOUT_MS = 60_000;
/** Largest response body logctl reads, bytes: a 1000-event search page with long messages is a few MB; a larger answer is not one of ours. */
export const HTTP_RESPONSE_BYTES_MAX = 64 * 1024 * 1024;

/** Lines per ingest request when --batch-lines is not given: large enough to amortize a round trip, small enough to retry cheaply. */
export const INGEST_BATCH_LINES_DEFAULT = 5000;
/** Largest --batch-lines; larger values are clamped. A chunk is held in memory, so this caps the CLI's footprint together with the byte bound below. */
export const INGEST_BATCH_LINES_MAX = 100_000;
/**
 * Line bytes in one ingest request, before compression. Invalid UTF-8 decodes to
 * U+FFFD (up to 3 bytes per input byte), so a chunk of this many input bytes stays
 * under the node's body limit even in the worst case.
 */
export const INGEST_CHUNK_BYTES_MAX = 8 * 1024 * 1024;
/** Bytes logctl reads to choose a format with --format auto on input without a telling extension. */
export const INGEST_SNIFF_BYTES_MAX = 64 * 1024;
/** Largest file read whole for --format json (a single JSON array): the node's body limit, since the array could be sent as one body. */
export const INGEST_JSON_FILE_BYTES_MAX = INGEST_BODY_BYTES_MAX;
/** Rejected lines kept and printed in the summary; the rest are only counted, so a wholly bad file does not flood the terminal. */
export const INGEST_REJECTIONS_SHOWN_MAX = 10;
/** Shortest gap between two progress lines on stderr, ms: readable, and cheap on a fast ingest. */
export const INGEST_PROGRESS_INTERVAL_MS = 500;

/** Attempts of one ingest request that gets 429 or 503, the first included: with the delays below, about a minute of overload before giving up. */
export const RETRY_ATTEMPTS_MAX = 8;
/** First backoff when the node sends no Retry-After, ms; doubled per attempt. */
export const RETRY_BACKOFF_BASE_MS = 500;
/** Longest wait between attempts, ms, whatever Retry-After says: a node asking for more is better reported than waited on. */
export const RETRY_DELAY_MAX_MS = 30_000;

/** Events per search page when --limit is not given. */
export const SEARCH_EVENTS_DEFAULT = 50;
/** Events `search --all` prints when --max is not given. */
export const SEARCH_ALL_MAX_DEFAULT = 10_000;
/** Largest --max: beyond a million events, an export tool fits better than a terminal. */
export const SEARCH_ALL_MAX_LIMIT = 1_000_000;

/** Events tail prints from before it started when --limit is not given, like tail(1)'s ten lines. */
export const TAIL_BACKLOG_DEFAULT = 10;
/** Poll interval of tail when --interval-ms is not given, ms. */
export const TAIL_INTERVAL_MS_DEFAULT = 1000;
/** Shortest --interval-ms: every poll is a scatter over all shards, so faster polling costs the node more than it shows the user. */
export const TAIL_INTERVAL_MS_MIN = 100;
/** Longest --interval-ms: beyond a minute, tail is no longer a tail. */
export const TAIL_INTERVAL_MS_MAX = 60_000;
/** Pages one tail poll follows; new events past these are skipped, with a warning, rather than falling ever further behind. */
export const TAIL_PAGES_PER_POLL_MAX = 10;

/** How often `drain --wait` asks the cluster how many shards the node still owns, ms: a shard hand-off takes seconds, so twice a second shows progress without loading the node. */
export const DRAIN_POLL_INTERVAL_MS = 500;
/** How long `drain --wait` waits when --timeout is not given, seconds: a few shard hand-offs of a few seconds each, with room for a seal. */
export const DRAIN_TIMEOUT_SECONDS_DEFAULT = 120;
/** Longest --timeout, seconds; larger values are clamped. A drain that takes over an hour is stuck, and is better reported than waited on. */
export const DRAIN_TIMEOUT_SECONDS_MAX = 3600;

/** Longest --run-id: the Idempotency-Key built from it must stay within the node's 128 characters. */
export const RUN_ID_CHARS_MAX = 64;

if (INGEST_CHUNK_BYTES_MAX * 3 > INGEST_BODY_BYTES_MAX) throw new Error("cli limits: a chunk could decode past the node's body limit");
if (INGEST_LINE_BYTES_MAX > INGEST_CHUNK_BYTES_MAX) throw new Error("cli limits: a single line must fit in a chunk");
if (INGEST_BATCH_LINES_MAX > INGEST_EVENTS_PER_REQUEST_MAX) throw new Error("cli limits: a batch must fit the node's events per request");
if (INGEST_BATCH_LINES_DEFAULT > INGEST_BATCH_LINES_MAX) throw new Error("cli limits: default batch over the maximum");
if (SEARCH_EVENTS_DEFAULT > SEARCH_LIMIT_MAX) throw new Error("cli limits: default page over the node's maximum");
if (SEARCH_ALL_MAX_DEFAULT > SEARCH_ALL_MAX_LIMIT) throw new Error("cli limits: default --max over its limit");
if (TAIL_INTERVAL_MS_DEFAULT < TAIL_INTERVAL_MS_MIN || TAIL_INTERVAL_MS_DEFAULT > TAIL_INTERVAL_MS_MAX) throw new Error("cli limits: tail interval default outside its range");
if (DRAIN_TIMEOUT_SECONDS_DEFAULT > DRAIN_TIMEOUT_SECONDS_MAX) throw new Error("cli limits: default drain timeout over its maximum");
if (DRAIN_POLL_INTERVAL_MS >= DRAIN_TIMEOUT_SECONDS_DEFAULT * 1000) throw new Error("cli limits: drain would poll once or less before its default timeout");
// "logctl-" + run id + "-" + a chunk number of up to 16 digits.
if ("logctl-".length + RUN_ID_CHARS_MAX + 1 + 16 > IDEMPOTENCY_KEY_CHARS_MAX) throw new Error("cli limits: run id too long for an Idempotency-Key");
