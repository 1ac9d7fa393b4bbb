-- Who made each change of an item's state: a person (staff:<login>), a key (api_key:<id>), the
-- buyer (buyer:<id>) or the ERP (erp). Rows from before it was kept have none.
ALTER TABLE line_transitions ADD COLUMN actor TEXT;
