CREATE TABLE change_log_prev (
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

INSERT INTO change_log_prev
    (revision, kind, slug, at, from_status, to_status, reason, last_heartbeat_at)
SELECT revision, kind, slug, at, from_status, to_status, reason, last_heartbeat_at
FROM change_log WHERE kind NOT IN ('flapping', 'stable') ORDER BY revision;

DELETE FROM sqlite_sequence WHERE name = 'change_log_prev';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'change_log_prev', seq FROM sqlite_sequence WHERE name = 'change_log';

DROP TABLE change_log;
ALTER TABLE change_log_prev RENAME TO change_log;
CREATE INDEX change_log_at_idx ON change_log (at);

ALTER TABLE projects DROP COLUMN flapping_since;
