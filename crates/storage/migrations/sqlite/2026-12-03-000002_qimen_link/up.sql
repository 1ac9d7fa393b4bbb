-- The Qimen warehouse link's app secret, stored like the ERP secret: beside the settings, never
-- shown again, never in the audit trail.
ALTER TABLE shop_settings ADD COLUMN qimen_secret TEXT;
