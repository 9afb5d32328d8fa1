-- Itemised refunds (docs/receipts.md "Refund receipts", docs/settlement.md "Refunds"): the sale's lines a refund
-- returned, as JSON [{"line": <0-based index into the sale's items>, "name", "unit_price", "quantity",
-- "tax_rate"}], the prices copied from the sale so the refund receipt can be rebuilt from the row alone. NULL for
-- an amount-only refund. What earlier refunds returned of a line is the sum over the sale's refunds not rejected
-- (refunds_sale index). Not part of the hashed sync item: the cloud takes the amount only.
ALTER TABLE refunds ADD COLUMN items_json TEXT;
