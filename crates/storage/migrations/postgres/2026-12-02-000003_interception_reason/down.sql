ALTER TABLE interceptions DROP COLUMN reason;
