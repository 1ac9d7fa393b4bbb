-- Why customer service intercepted a whole order, as the agent wrote it (none for a buyer's card).
ALTER TABLE interceptions ADD COLUMN reason TEXT;
