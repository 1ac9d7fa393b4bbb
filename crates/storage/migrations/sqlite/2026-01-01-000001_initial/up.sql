-- Shiphold's schema on SQLite. Times are unix milliseconds (BIGINT), ids TEXT, JSON as TEXT.
-- Every table leads with shop_id in its primary key or in an index, so data can later be
-- distributed by shop.

CREATE TABLE shops (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    shop_id      TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    label        TEXT NOT NULL,
    roles        TEXT NOT NULL,
    secret_hash  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    PRIMARY KEY (shop_id, id)
);
CREATE UNIQUE INDEX api_keys_secret_hash ON api_keys (secret_hash);

CREATE TABLE shop_settings (
    shop_id     TEXT PRIMARY KEY NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    settings    TEXT NOT NULL,
    erp_secret  TEXT,
    templates   TEXT NOT NULL,
    version     BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    shop_id     TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    before_json TEXT NOT NULL,
    after_json  TEXT NOT NULL
);
CREATE INDEX audit_log_shop ON audit_log (shop_id, id);

CREATE TABLE event_windows (
    shop_id            TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    id                 TEXT NOT NULL,
    name               TEXT NOT NULL,
    refunds_off_from   BIGINT NOT NULL,
    refunds_off_until  BIGINT NOT NULL,
    time_zone          TEXT NOT NULL,
    refunds_reopen_at  BIGINT NOT NULL,
    PRIMARY KEY (shop_id, id)
);

CREATE TABLE orders (
    shop_id      TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    id           TEXT NOT NULL,
    buyer_id     TEXT NOT NULL,
    version      BIGINT NOT NULL,
    seller_memo  TEXT NOT NULL,
    seller_flag  TEXT NOT NULL,
    memo_note    TEXT,
    memo_flag    TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (shop_id, id)
);
CREATE INDEX orders_buyer ON orders (shop_id, buyer_id);
CREATE INDEX orders_updated ON orders (shop_id, updated_at);

CREATE TABLE sub_orders (
    shop_id          TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    id               TEXT NOT NULL,
    position         INTEGER NOT NULL,
    item_id          TEXT NOT NULL,
    title            TEXT NOT NULL,
    quantity         BIGINT NOT NULL,
    amount           BIGINT NOT NULL,
    shipping_status  TEXT NOT NULL,
    PRIMARY KEY (shop_id, order_id, id),
    FOREIGN KEY (shop_id, order_id) REFERENCES orders (shop_id, id) ON DELETE CASCADE
);

CREATE TABLE cards (
    shop_id     TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    order_id    TEXT NOT NULL,
    buyer_id    TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT,
    PRIMARY KEY (shop_id, id)
);
CREATE UNIQUE INDEX cards_token_hash ON cards (token_hash);
CREATE INDEX cards_order ON cards (shop_id, order_id);

CREATE TABLE interceptions (
    shop_id         TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    id              TEXT NOT NULL,
    order_id        TEXT NOT NULL,
    buyer_id        TEXT NOT NULL,
    method          TEXT NOT NULL,
    card_id         TEXT,
    requester_kind  TEXT NOT NULL,
    requester_id    TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (shop_id, id)
);
CREATE INDEX interceptions_order ON interceptions (shop_id, order_id);
CREATE INDEX interceptions_created ON interceptions (shop_id, created_at, id);

CREATE TABLE interception_lines (
    shop_id          TEXT NOT NULL,
    interception_id  TEXT NOT NULL,
    sub_order_id     TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    position         INTEGER NOT NULL,
    quantity         BIGINT NOT NULL,
    state            TEXT NOT NULL,
    updated_at       BIGINT NOT NULL,
    PRIMARY KEY (shop_id, interception_id, sub_order_id),
    FOREIGN KEY (shop_id, interception_id) REFERENCES interceptions (shop_id, id) ON DELETE CASCADE
);
CREATE INDEX interception_lines_order ON interception_lines (shop_id, order_id, state);
CREATE INDEX interception_lines_state ON interception_lines (shop_id, state);

CREATE TABLE line_transitions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    shop_id          TEXT NOT NULL,
    interception_id  TEXT NOT NULL,
    sub_order_id     TEXT NOT NULL,
    from_state       TEXT NOT NULL,
    to_state         TEXT NOT NULL,
    event            TEXT NOT NULL,
    detail           TEXT,
    at               BIGINT NOT NULL,
    FOREIGN KEY (shop_id, interception_id) REFERENCES interceptions (shop_id, id) ON DELETE CASCADE
);
CREATE INDEX line_transitions_interception ON line_transitions (shop_id, interception_id, id);

CREATE TABLE messages (
    shop_id          TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    order_id         TEXT NOT NULL,
    buyer_id         TEXT NOT NULL,
    interception_id  TEXT,
    kind             TEXT NOT NULL,
    locale           TEXT NOT NULL,
    channel          TEXT NOT NULL,
    text             TEXT NOT NULL,
    link             TEXT,
    status           TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    last_error       TEXT,
    PRIMARY KEY (shop_id, id)
);
CREATE INDEX messages_order ON messages (shop_id, order_id, created_at);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    shop_id       TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    topic         TEXT NOT NULL,
    ordering_key  TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    status        TEXT NOT NULL,
    attempts      INTEGER NOT NULL,
    available_at  BIGINT NOT NULL,
    lease_until   BIGINT,
    leased_by     TEXT,
    lease_token   TEXT,
    created_at    BIGINT NOT NULL,
    finished_at   BIGINT,
    last_error    TEXT
);
CREATE INDEX outbox_shop_key ON outbox (shop_id, topic, ordering_key, status, id);
CREATE INDEX outbox_due ON outbox (topic, status, available_at);
CREATE INDEX outbox_shop_status ON outbox (shop_id, status, topic, id);

CREATE TABLE outbox_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    shop_id      TEXT NOT NULL,
    outbox_id    BIGINT NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    at           BIGINT NOT NULL,
    outcome      TEXT NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    duration_ms  BIGINT NOT NULL
);
CREATE INDEX outbox_attempts_entry ON outbox_attempts (shop_id, outbox_id, id);

CREATE TABLE idempotency_keys (
    shop_id        TEXT NOT NULL,
    scope          TEXT NOT NULL,
    key            TEXT NOT NULL,
    request_hash   TEXT NOT NULL,
    state          TEXT NOT NULL,
    locked_until   BIGINT NOT NULL,
    status         INTEGER,
    body           BLOB,
    content_type   TEXT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (shop_id, scope, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE inbound_webhooks (
    shop_id      TEXT NOT NULL,
    webhook_id   TEXT NOT NULL,
    received_at  BIGINT NOT NULL,
    PRIMARY KEY (shop_id, webhook_id)
);
CREATE INDEX inbound_webhooks_received ON inbound_webhooks (received_at);
