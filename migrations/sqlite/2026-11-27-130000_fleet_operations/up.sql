-- Fleet operations (see migrations/postgres).
ALTER TABLE projects ADD COLUMN heartbeat_interval_seconds INTEGER
    CHECK (heartbeat_interval_seconds BETWEEN 1 AND 86400);
-- A maintenance window, as JSON {"reason","since","until","by"}; NULL: none.
ALTER TABLE projects ADD COLUMN maintenance TEXT;
-- History outlives its project (see migrations/postgres): SQLite cannot change a foreign
-- key, so the table is rebuilt with the slug and ON DELETE SET NULL.
CREATE TABLE status_transitions_new (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id        INTEGER REFERENCES projects (id) ON DELETE SET NULL,
    slug              TEXT    NOT NULL,
    from_status       TEXT    NOT NULL,
    to_status         TEXT    NOT NULL,
    reason            TEXT,
    at                TEXT    NOT NULL,
    last_heartbeat_at TEXT,
    CONSTRAINT status_transitions_from_check CHECK (from_status IN ('online', 'degraded', 'offline')),
    CONSTRAINT status_transitions_to_check CHECK (to_status IN ('online', 'degraded', 'offline'))
);
INSERT INTO status_transitions_new
    (id, project_id, slug, from_status, to_status, reason, at, last_heartbeat_at)
SELECT t.id, t.project_id, p.slug, t.from_status, t.to_status, t.reason, t.at, t.last_heartbeat_at
FROM status_transitions t JOIN projects p ON p.id = t.project_id;
DROP TABLE status_transitions;
ALTER TABLE status_transitions_new RENAME TO status_transitions;
CREATE INDEX status_transitions_project_at_idx ON status_transitions (project_id, at DESC, id DESC);
CREATE INDEX status_transitions_slug_at_idx ON status_transitions (slug, at DESC, id DESC);
-- Where a project's last registration came from: a catalog file with `prune: true`
-- removes only the projects it registered.
ALTER TABLE projects ADD COLUMN origin TEXT NOT NULL DEFAULT 'api'
    CHECK (origin IN ('api', 'file'));
