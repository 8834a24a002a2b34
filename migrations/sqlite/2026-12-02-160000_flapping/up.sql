-- Flapping (see migrations/postgres). SQLite cannot change a CHECK constraint: the
-- change log is copied into a table with the new one, keeping its revisions and its
-- AUTOINCREMENT counter (a log trimmed to nothing must not hand out old numbers).
ALTER TABLE projects ADD COLUMN flapping_since TEXT;

CREATE TABLE change_log_next (
    revision          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind              TEXT    NOT NULL,
    slug              TEXT    NOT NULL,
    at                TEXT    NOT NULL,
    from_status       TEXT,
    to_status         TEXT,
    reason            TEXT,
    last_heartbeat_at TEXT,
    CONSTRAINT change_log_kind_check
        CHECK (kind IN ('registered', 'updated', 'deleted', 'transition', 'flapping', 'stable'))
);

INSERT INTO change_log_next
    (revision, kind, slug, at, from_status, to_status, reason, last_heartbeat_at)
SELECT revision, kind, slug, at, from_status, to_status, reason, last_heartbeat_at
FROM change_log ORDER BY revision;

DELETE FROM sqlite_sequence WHERE name = 'change_log_next';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'change_log_next', seq FROM sqlite_sequence WHERE name = 'change_log';

DROP TABLE change_log;
ALTER TABLE change_log_next RENAME TO change_log;
CREATE INDEX change_log_at_idx ON change_log (at);
