-- The W3C traceparent of the request that took the sale (docs/observability.md): the sync batch span links
-- to it. NULL when telemetry was off. Never part of the hashed item nor of the batch sent to the cloud.
ALTER TABLE sales ADD COLUMN trace_context TEXT;
