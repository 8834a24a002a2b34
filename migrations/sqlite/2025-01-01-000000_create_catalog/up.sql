-- The same logical schema as migrations/postgres, for the embedded SQLite store.
-- Times are UTC text in one fixed-width form, 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (microseconds),
-- written by the application only, so text order is time order (MAX and ORDER BY work).

CREATE TABLE projects (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    slug              TEXT    NOT NULL,
    name              TEXT    NOT NULL,
    hub_url           TEXT    NOT NULL,
    mesh_namespace    TEXT    NOT NULL,
    status            TEXT    NOT NULL DEFAULT 'offline',
    status_reason     TEXT,
    version           TEXT,
    last_heartbeat_at TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL,
    CONSTRAINT projects_slug_key UNIQUE (slug),
    CONSTRAINT projects_status_check CHECK (status IN ('online', 'degraded', 'offline'))
);

CREATE INDEX projects_status_slug_idx ON projects (status, slug);

CREATE TABLE project_tags (
    project_id INTEGER NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    tag        TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (project_id, tag)
) WITHOUT ROWID;

CREATE INDEX project_tags_tag_idx ON project_tags (tag);

CREATE TABLE status_transitions (
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

CREATE INDEX status_transitions_project_at_idx ON status_transitions (project_id, at DESC, id DESC);
