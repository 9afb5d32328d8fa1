-- Last sync time for /api/status without scanning every sale.
CREATE INDEX sales_synced_at ON sales (synced_at) WHERE synced_at IS NOT NULL;
