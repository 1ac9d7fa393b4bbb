DROP INDEX interception_lines_order;
DROP INDEX interceptions_order;
CREATE INDEX interceptions_order ON interceptions (shop_id, order_id);
CREATE INDEX interception_lines_order ON interception_lines (shop_id, order_id, state);
