-- The catalog of CommandCenter instances, their tags and their liveness history.
-- Every time is UTC (timestamptz); values are validated by the domain before they get here,
-- so the constraints below are a safety net, not the rulebook.

CREATE TABLE projects (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug              TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    hub_url           TEXT        NOT NULL,
    mesh_namespace    TEXT        NOT NULL,
    status            TEXT        NOT NULL DEFAULT 'offline',
    status_reason     TEXT,
    version           TEXT,
    last_heartbeat_at TIMESTAMPTZ,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT projects_slug_key UNIQUE (slug),
    CONSTRAINT projects_status_check CHECK (status IN ('online', 'degraded', 'offline'))
);

-- The status filter, returned in slug order (the unique key above serves plain slug order).
CREATE INDEX projects_status_slug_idx ON projects (status, slug);

CREATE TABLE project_tags (
    project_id BIGINT  NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    tag        TEXT    NOT NULL,
    position   INTEGER NOT NULL,
    PRIMARY KEY (project_id, tag)
);

CREATE INDEX project_tags_tag_idx ON project_tags (tag);

CREATE TABLE status_transitions (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id        BIGINT      NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    from_status       TEXT        NOT NULL,
    to_status         TEXT        NOT NULL,
    reason            TEXT,
    at                TIMESTAMPTZ NOT NULL,
    last_heartbeat_at TIMESTAMPTZ,
    CONSTRAINT status_transitions_from_check CHECK (from_status IN ('online', 'degraded', 'offline')),
    CONSTRAINT status_transitions_to_check CHECK (to_status IN ('online', 'degraded', 'offline'))
);

CREATE INDEX status_transitions_project_at_idx ON status_transitions (project_id, at DESC, id DESC);
