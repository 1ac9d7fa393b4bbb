ALTER TABLE shop_settings DROP COLUMN marketplace_webhook_secret;
