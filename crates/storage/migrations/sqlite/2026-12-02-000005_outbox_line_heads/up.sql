-- The claim finds due entries in the order they fell due, and for each asks whether it is the
-- first open (pending or held) entry of its key. Both questions get an index of their own that
-- holds only the rows that can answer them, so the query plan is the same whether or not the
-- database has statistics yet: without them PostgreSQL had planned the head-of-line check as a
-- scan of every open entry of the topic for each candidate, a claim whose cost grew with the
-- backlog (a drain that slowed down the bigger it was), and SQLite sorted every due entry.
-- outbox_due and outbox_shop_key served only the old form of the claim.
DROP INDEX outbox_claimable;
DROP INDEX outbox_due;
DROP INDEX outbox_shop_key;
CREATE INDEX outbox_claimable ON outbox (topic, available_at, id) WHERE status = 'pending';
CREATE INDEX outbox_open_key ON outbox (shop_id, topic, ordering_key, id)
    WHERE status IN ('pending', 'held');
