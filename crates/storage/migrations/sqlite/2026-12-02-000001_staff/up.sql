-- People of a shop who sign in to the console: an admin invites them with a role; they choose a
-- password from the invitation link. Logins are unique across all shops (people sign in without
-- naming their shop) and never reused: a removed account is kept, disabled.
CREATE TABLE staff (
    shop_id           TEXT NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    id                TEXT NOT NULL,
    login             TEXT NOT NULL,
    name              TEXT NOT NULL,
    role              TEXT NOT NULL,
    password_hash     TEXT,
    invite_hash       TEXT,
    invite_expires_at BIGINT,
    failed_sign_ins   INTEGER NOT NULL,
    throttled_until   BIGINT,
    created_at        BIGINT NOT NULL,
    created_by        TEXT NOT NULL,
    removed_at        BIGINT,
    PRIMARY KEY (shop_id, id)
);
CREATE UNIQUE INDEX staff_login ON staff (login);
CREATE UNIQUE INDEX staff_invite_hash ON staff (invite_hash);

-- Signed-in sessions: the cookie's token, stored hashed (its CSRF token is derived from it).
CREATE TABLE staff_sessions (
    token_hash  TEXT PRIMARY KEY NOT NULL,
    shop_id     TEXT NOT NULL,
    staff_id    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    ended_at    BIGINT,
    FOREIGN KEY (shop_id, staff_id) REFERENCES staff (shop_id, id) ON DELETE CASCADE
);
CREATE INDEX staff_sessions_staff ON staff_sessions (shop_id, staff_id);
