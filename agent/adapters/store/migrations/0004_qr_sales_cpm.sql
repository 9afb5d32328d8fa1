-- QR CPM (customer-presented code) sales share qr_sales with QR MPM; the method tells them apart.
-- failure_code: why a QR sale ended failed/cancelled (provider_declined, scan_timeout, cancelled_by_cashier…).
-- receipt_json: the lines and tax to print when the payment succeeds (QR sales succeed after the request).
ALTER TABLE qr_sales ADD COLUMN payment_method TEXT NOT NULL DEFAULT 'qr_mpm'
    CHECK (payment_method IN ('qr_mpm', 'qr_cpm'));
ALTER TABLE qr_sales ADD COLUMN failure_code TEXT;
ALTER TABLE qr_sales ADD COLUMN receipt_json TEXT NOT NULL DEFAULT '{}';
