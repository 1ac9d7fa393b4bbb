-- The secret being rotated out: deliveries are signed with it too, and callbacks signed with it
-- are accepted, until the admin drops it.
ALTER TABLE shop_settings ADD COLUMN erp_secret_previous TEXT;
