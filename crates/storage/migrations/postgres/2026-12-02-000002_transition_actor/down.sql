ALTER TABLE line_transitions DROP COLUMN actor;
