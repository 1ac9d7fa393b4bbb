-- The marketplace link's app secret and the seller's session, stored like the ERP secret: beside
-- the settings, never shown again, never in the audit trail.
ALTER TABLE shop_settings ADD COLUMN marketplace_secret TEXT;
ALTER TABLE shop_settings ADD COLUMN marketplace_session TEXT;
