-- Notification channels, cursors and deliveries (see migrations/postgres). Times are
-- the store's fixed-width UTC text.
CREATE TABLE notify_channels (
    name       TEXT    PRIMARY KEY NOT NULL,
    kind       TEXT    NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    url        TEXT    NOT NULL,
    secret     TEXT,
    rules      TEXT    NOT NULL,
    enabled    BOOLEAN NOT NULL,
    email      TEXT,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);

CREATE TABLE notify_cursors (
    channel  TEXT    PRIMARY KEY NOT NULL REFERENCES notify_channels (name) ON DELETE CASCADE,
    revision BIGINT  NOT NULL
);

CREATE TABLE notify_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    channel     TEXT    NOT NULL REFERENCES notify_channels (name) ON DELETE CASCADE,
    revision    BIGINT  NOT NULL,
    event       TEXT    NOT NULL,
    slug        TEXT,
    status      TEXT    NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts    INTEGER NOT NULL,
    http_status INTEGER,
    last_error  TEXT,
    latency_ms  BIGINT  NOT NULL,
    at          TEXT    NOT NULL
);
CREATE INDEX notify_deliveries_channel_idx ON notify_deliveries (channel, id);
