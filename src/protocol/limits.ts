// Bounds of the wire formats in src/protocol. The encoders refuse to produce anything
// beyond them and the decoders reject anything beyond them before trusting a length.
// Each value says why it is what it is; relationships are checked when the module loads.

/**
 * Most events in one WAL batch. Producers flush at about 1000 events, so this is far
 * above normal traffic; it bounds how many objects one message turns into, and so the
 * consumer's memory and the time it spends on one message before it can ack (~20 ms
 * to decode 100,000 seed-shaped events at the measured ~5M events/s).
 */
export const WAL_BATCH_EVENTS_MAX = 100_000;

/**
 * Longest string field of an event in a WAL batch (service, message, metadata, ...),
 * UTF-8 bytes. Equal to the ingest line limit (256 KiB, as in Loki and VictoriaLogs):
 * a field cannot be longer than the line it came from, and a stack trace fits.
 */
export const WAL_STRING_BYTES_MAX = 256 * 1024;

/**
 * Largest encoded WAL batch, bytes. JetStream stores a batch as one message, so this
 * plus its headers must fit the nats-server `max_payload`, which is 1 MiB by default:
 * servers carrying the WAL must raise it above 8 MiB (NATS recommends at most 8 MB).
 * That is ~38,000 seed-shaped events (~220 encoded bytes each, service and hostname shared).
 */
export const WAL_BATCH_BYTES_MAX = 8 * 1024 * 1024;

/**
 * JetStream's deduplication window for WAL publishes that carry a message id (SDK
 * retries, Idempotency-Key): a retry within it stores nothing twice.
 */
export const WAL_DUPLICATE_WINDOW_MS = 2 * 60_000;

/**
 * Fewest bytes one event can take inside a batch: a 4-byte offset in the events
 * vector plus a 4-byte table that shares its vtable with other events. Used only to
 * check that WAL_BATCH_EVENTS_MAX is reachable within WAL_BATCH_BYTES_MAX.
 */
const WAL_EVENT_BYTES_MIN = 8;

/** String fields in one event (service, hostname, trace_id, span_id, message, metadata). */
const EVENT_STRING_FIELDS = 6;
/** Generous bound on the FlatBuffers overhead of one event and of the envelope, bytes. */
const FLATBUFFERS_OVERHEAD_BYTES = 4096;

// A single event whose every string is at its limit must fit in one batch, or a
// producer could hold an event no batch can carry.
if (EVENT_STRING_FIELDS * (WAL_STRING_BYTES_MAX + 8) + FLATBUFFERS_OVERHEAD_BYTES > WAL_BATCH_BYTES_MAX) {
  throw new Error("protocol limits: one event with every string at WAL_STRING_BYTES_MAX must fit in WAL_BATCH_BYTES_MAX");
}
// The event count limit must be reachable, or it is not the limit that binds.
if (WAL_BATCH_EVENTS_MAX * WAL_EVENT_BYTES_MIN > WAL_BATCH_BYTES_MAX) {
  throw new Error("protocol limits: WAL_BATCH_EVENTS_MAX events of the smallest size must fit in WAL_BATCH_BYTES_MAX");
}
// FlatBuffers offsets are signed 32-bit, and `count` is a uint.
if (WAL_BATCH_BYTES_MAX >= 2 ** 31) throw new Error("protocol limits: a FlatBuffer cannot exceed 2 GiB");
if (WAL_BATCH_EVENTS_MAX >= 2 ** 32) throw new Error("protocol limits: Batch.count is a uint");

/**
 * Longest a flow signal may ask producers to wait or hold a pause (src/protocol/flow.ts).
 * Nodes send 3 s; a signal beyond a minute is refused as malformed, so one bad message
 * cannot stall every producer for long (restrict who may publish on the flow subject).
 */
export const FLOW_SIGNAL_TTL_MAX_MS = 60_000;
