-- The reads of one order's interceptions and of its active lines ask for them in a fixed order
-- (interceptions by creation, lines by interception and position). The per-order indexes held
-- only (shop_id, order_id), so without statistics the planner preferred an index that gave the
-- order of the ORDER BY with shop_id alone: it walked every interception or line of the shop and
-- filtered the order out, a cost that grew with the shop's history (1.3 ms per intake and per
-- interception at 10,000 interceptions of one shop, when every other statement of them took
-- 10-35 µs). With the sort columns after the order's, one index answers both the filter and
-- the order, whatever the statistics say.
DROP INDEX interceptions_order;
DROP INDEX interception_lines_order;
CREATE INDEX interceptions_order ON interceptions (shop_id, order_id, created_at, id);
CREATE INDEX interception_lines_order
    ON interception_lines (shop_id, order_id, interception_id, position);
