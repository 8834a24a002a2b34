-- Notification channels (docs/notifications.md). `secret` (a webhook's signing secret,
-- or an email channel's SMTP password) is never read back by the API; a Slack channel's
-- URL is its secret. `rules` is the channel's rules as JSON text (the domain's `Rules`).
CREATE TABLE notify_channels (
    name       TEXT        PRIMARY KEY,
    kind       TEXT        NOT NULL CHECK (kind IN ('webhook', 'slack', 'email')),
    url        TEXT        NOT NULL,
    secret     TEXT,
    rules      TEXT        NOT NULL,
    enabled    BOOLEAN     NOT NULL,
    -- An email channel's settings as JSON text (from, to, username, tls); no password.
    email      TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Each channel's outbox cursor: the last change-log revision it has dealt with.
CREATE TABLE notify_cursors (
    channel  TEXT   PRIMARY KEY REFERENCES notify_channels (name) ON DELETE CASCADE,
    revision BIGINT NOT NULL
);

-- Every delivery, sent or failed after its retries.
CREATE TABLE notify_deliveries (
    id          BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel     TEXT        NOT NULL REFERENCES notify_channels (name) ON DELETE CASCADE,
    revision    BIGINT      NOT NULL,
    event       TEXT        NOT NULL,
    slug        TEXT,
    status      TEXT        NOT NULL CHECK (status IN ('sent', 'failed')),
    attempts    INTEGER     NOT NULL,
    http_status INTEGER,
    last_error  TEXT,
    latency_ms  BIGINT      NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX notify_deliveries_channel_idx ON notify_deliveries (channel, id);
