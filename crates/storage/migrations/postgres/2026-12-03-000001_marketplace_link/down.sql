ALTER TABLE shop_settings DROP COLUMN marketplace_session;
ALTER TABLE shop_settings DROP COLUMN marketplace_secret;
