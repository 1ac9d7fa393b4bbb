DROP INDEX outbox_open_key;
DROP INDEX outbox_claimable;
CREATE INDEX outbox_claimable ON outbox (topic, id) WHERE status = 'pending';
CREATE INDEX outbox_shop_key ON outbox (shop_id, topic, ordering_key, status, id);
CREATE INDEX outbox_due ON outbox (topic, status, available_at);
