ALTER TABLE shop_settings DROP COLUMN erp_secret_previous;
