-- The same change log, lease and outbox cursor as migrations/postgres. SQLite has one
-- writer at a time, so AUTOINCREMENT revisions commit in order by themselves.

CREATE TABLE change_log (
    revision          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT    NOT NULL,
    slug              TEXT    NOT NULL,
    at                TEXT    NOT NULL,
    from_status       TEXT,
    to_status         TEXT,
    reason            TEXT,
    last_heartbeat_at TEXT,
    CONSTRAINT change_log_kind_check
        CHECK (kind IN ('registered', 'updated', 'deleted', 'transition'))
);

CREATE INDEX change_log_at_idx ON change_log (at);

CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    term       INTEGER NOT NULL,
    expires_at TEXT    NOT NULL
) WITHOUT ROWID;

CREATE TABLE change_log_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    trimmed_through   INTEGER NOT NULL DEFAULT 0,
    published_through INTEGER NOT NULL DEFAULT 0
);

INSERT INTO change_log_state (id) VALUES (1);

INSERT INTO change_log (kind, slug, at)
SELECT 'registered', slug, created_at FROM projects ORDER BY slug;
