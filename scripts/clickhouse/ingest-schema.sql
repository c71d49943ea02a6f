-- The ingest comparison's ClickHouse table (scripts/bench-compare.ts): one MergeTree
-- table as a ClickHouse user lays out logs for ingest, ordered by service and time,
-- partitioned by day, service / level / hostname as LowCardinality dictionaries, no
-- materialized views (the query benchmark's schema.sql adds those; they cost insert
-- time that this comparison is about). Rows arrive as JSONEachRow over HTTP; metadata
-- is the event's JSON object as a string (18.16 cannot read a nested object into a
-- String column). Statements are separated by a line holding only ";".

CREATE TABLE IF NOT EXISTS logs (
  timestamp_us UInt64,
  level LowCardinality(String),
  service LowCardinality(String),
  hostname LowCardinality(String),
  trace_id String,
  span_id String,
  message String,
  metadata String
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(toDateTime(intDiv(timestamp_us, 1000000)))
ORDER BY (service, timestamp_us)
