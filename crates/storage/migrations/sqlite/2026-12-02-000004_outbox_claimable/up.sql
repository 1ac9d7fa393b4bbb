-- The claim walks the pending entries of a topic in id order. Without this index it walked the
-- primary key from the lowest id and filtered out every delivered entry on each claim, so each
-- claim cost more the more of a backlog had been delivered (a drain that slows as it goes).
CREATE INDEX outbox_claimable ON outbox (topic, id) WHERE status = 'pending';
