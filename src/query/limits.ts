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
/** A query's time budget when the request names none (`timeout_ms`). */
export const QUERY_TIMEOUT_DEFAULT_MS = 10_000;
/** The most a request may ask: longer work belongs in export, which pages. */
export const QUERY_TIMEOUT_MAX_MS = 60_000;
/** The gateway waits this much past the budget for shards to say they timed out, before counting them unreachable. */
export const SHARD_REPLY_GRACE_MS = 1_000;
/** Fields one aggregate groups by. */
export const AGGREGATE_GROUP_FIELDS_MAX = 4;
/** Functions one aggregate computes besides count. */
export const AGGREGATE_FUNCTIONS_MAX = 8;
/** Distinct values a shard sends for one group's count_distinct; past it the count is approximate. */
export const COUNT_DISTINCT_EXACT_MAX = 1_000;
/** Buckets of a time histogram. */
export const HISTOGRAM_BUCKETS_MAX = 10_000;
/** How far from the anchor event the context endpoint looks, each way. */
export const CONTEXT_WINDOW_US = 3_600_000_000;
/** Events before or after the anchor the context endpoint returns at most. */
export const CONTEXT_EVENTS_MAX = 500;
/** Bytes a shard puts in one reply; under NATS's 1 MiB default max_payload with headroom. */
export const SHARD_REPLY_BYTES_MAX = 900 * 1024;
/** Queries the gateway runs at once; more get 503 with Retry-After. */
export const GATEWAY_QUERIES_IN_FLIGHT_MAX = 64;

if (SEARCH_LIMIT_DEFAULT > SEARCH_LIMIT_MAX) throw new Error("query limits: default page over the maximum");
/** Query shapes whose grouping of a tenant's counter series is kept (counter-aggregate.ts); past it the cache starts over. */
export const COUNTER_GROUPINGS_CACHED_MAX = 32;

/** A broad search's first time window (query/keys-first.ts): the last 15 s newest first, or the first 15 s oldest first. */
export const FIRST_WINDOW_US = 15_000_000;
/** Each round's window is this many times the last (15 s, 2 min, 16 min, 2.1 h, then the rest): few rounds even over days. */
export const WINDOW_GROWTH = 8;
/** Rounds at most: the last window takes the rest of the range, so a search matching nothing still asks at most this often. */
export const WINDOWS_MAX = 5;
/** Most rows of a window a shard is asked to send whole (keys-first.ts wholeRowsAsked). */
export const WHOLE_ROWS_ASKED_MAX = 64;
