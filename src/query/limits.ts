// Bounds of the query path, with why.

/** Default page size of a search. */
export const SEARCH_LIMIT_DEFAULT = 100;
/** Largest page a search returns: one page stays a few MB even with long messages. */
export const SEARCH_LIMIT_MAX = 1000;
/** Terms in q; more is almost surely a pasted blob, and each is a scan predicate. */
export const QUERY_TERMS_MAX = 32;
/** Nesting of parentheses and NOT in q: deeper is no real query, and each level is a stack frame in the parser and planner. */
export const QUERY_DEPTH_MAX = 16;
/** Length of q in characters. */
export const QUERY_TEXT_CHARS_MAX = 4096;
/** Values in one comma-separated filter (service=a,b,c). */
export const FILTER_VALUES_MAX = 64;
/** Groups an aggregation returns at most; exact counts up to this many distinct keys. */
export const AGGREGATE_GROUPS_MAX = 10_000;
/** How long the gateway waits for shards before answering partial. */
export const SHARD_QUERY_TIMEOUT_MS = 10_000;
/** Bytes a shard puts in one reply; under NATS's 1 MiB default max_payload with headroom. */
export const SHARD_REPLY_BYTES_MAX = 900 * 1024;
/** Queries the gateway runs at once; more get 503 with Retry-After. */
export const GATEWAY_QUERIES_IN_FLIGHT_MAX = 64;

if (SEARCH_LIMIT_DEFAULT > SEARCH_LIMIT_MAX) throw new Error("query limits: default page over the maximum");
