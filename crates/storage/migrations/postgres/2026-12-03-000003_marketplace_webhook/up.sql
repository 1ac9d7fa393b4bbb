-- The signing secret of a marketplace webhook link (memo write-backs to a marketplace without
-- the open platform), stored like the ERP secret.
ALTER TABLE shop_settings ADD COLUMN marketplace_webhook_secret TEXT;
