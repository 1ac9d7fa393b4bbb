ALTER TABLE shop_settings DROP COLUMN qimen_secret;
