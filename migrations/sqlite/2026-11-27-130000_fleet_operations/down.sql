CREATE TABLE status_transitions_old (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    from_status       TEXT    NOT NULL,
    to_status         TEXT    NOT NULL,
    reason            TEXT,
    at                TEXT    NOT NULL,
    last_heartbeat_at TEXT,
    CONSTRAINT status_transitions_from_check CHECK (from_status IN ('online', 'degraded', 'offline')),
    CONSTRAINT status_transitions_to_check CHECK (to_status IN ('online', 'degraded', 'offline'))
);
INSERT INTO status_transitions_old
    (id, project_id, from_status, to_status, reason, at, last_heartbeat_at)
SELECT id, project_id, from_status, to_status, reason, at, last_heartbeat_at
FROM status_transitions WHERE project_id IS NOT NULL;
DROP TABLE status_transitions;
ALTER TABLE status_transitions_old RENAME TO status_transitions;
CREATE INDEX status_transitions_project_at_idx ON status_transitions (project_id, at DESC, id DESC);
ALTER TABLE projects DROP COLUMN origin;
ALTER TABLE projects DROP COLUMN maintenance;
ALTER TABLE projects DROP COLUMN heartbeat_interval_seconds;
