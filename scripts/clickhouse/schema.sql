-- The benchmark's ClickHouse tables, as a ClickHouse user would lay out logs on the
-- Debian package's version (18.16): it has no data-skipping indexes yet (no
-- bloom_filter, tokenbf_v1 or ngrambf_v1; those came in 19.x), so
--   * hour partitions prune every time-bounded query to the hours it covers;
--   * ORDER BY (service, level, timestamp_us) serves `service:X level:Y` newest-first;
--   * LowCardinality keeps service, level and hostname as dictionaries;
--   * trace_id lookups go through a materialized view sorted by trace_id that says
--     which hours hold the trace (the "index table" pattern before skip indexes);
--   * counts for dashboards (by service and level, per-minute histograms) come from a
--     SummingMergeTree view of events per (minute, service, level), the usual
--     ClickHouse answer to "count this often"; POPULATE fills it from rows already
--     loaded when it is added to an existing table;
--   * a word in the message is a scan: positionCaseInsensitive over the hours asked.
-- Statements are separated by a line holding only ";".

CREATE TABLE IF NOT EXISTS logs (
  timestamp_us UInt64,
  level LowCardinality(String),
  service LowCardinality(String),
  hostname LowCardinality(String),
  trace_id String,
  span_id String,
  message String,
  metadata String,
  ts DateTime MATERIALIZED toDateTime(intDiv(timestamp_us, 1000000))
) ENGINE = MergeTree
PARTITION BY toStartOfHour(ts)
ORDER BY (service, level, timestamp_us)
;
CREATE MATERIALIZED VIEW IF NOT EXISTS logs_trace_hours
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMMDD(hour)
ORDER BY (trace_id, hour)
AS SELECT trace_id, toStartOfHour(toDateTime(intDiv(timestamp_us, 1000000))) AS hour FROM logs
;
CREATE MATERIALIZED VIEW IF NOT EXISTS logs_minute_counts
ENGINE = SummingMergeTree
PARTITION BY toYYYYMMDD(minute)
ORDER BY (minute, service, level)
POPULATE
AS SELECT toStartOfMinute(toDateTime(intDiv(timestamp_us, 1000000))) AS minute, service, level, count() AS events FROM logs GROUP BY minute, service, level
