-- The seed's naive log table, for scale in the ingest comparison (scripts/bench-compare.ts):
-- one row per event, a bigserial key, JSONB metadata and four B-tree indexes, loaded
-- with COPY. Statements are separated by a line holding only ";".

CREATE TABLE logs (
  id bigserial PRIMARY KEY,
  timestamp timestamptz,
  level text,
  service text,
  hostname text,
  trace_id text,
  span_id text,
  message text,
  metadata jsonb
)
;
CREATE INDEX logs_timestamp ON logs (timestamp)
;
CREATE INDEX logs_service_timestamp ON logs (service, timestamp)
;
CREATE INDEX logs_level ON logs (level)
;
CREATE INDEX logs_trace_id ON logs (trace_id)
