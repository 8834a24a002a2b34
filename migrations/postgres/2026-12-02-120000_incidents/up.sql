-- Incidents (docs/notifications.md § Incidents): many projects offline together.
-- Written only by the leader, fenced by the sweeper lease's term. `id` is the
-- change-log revision that opened it.
CREATE TABLE incidents (
    id                BIGINT      PRIMARY KEY,
    started_at        TIMESTAMPTZ NOT NULL,
    opened_at         TIMESTAMPTZ NOT NULL,
    ended_at          TIMESTAMPTZ,
    resolved_revision BIGINT,
    trigger           TEXT        NOT NULL CHECK (trigger IN ('fleet', 'tag')),
    tag               TEXT,
    offline           INTEGER     NOT NULL,
    tag_size          INTEGER
);
CREATE INDEX incidents_resolved_idx ON incidents (resolved_revision);

-- Its members: when each went offline (the transition's revision) and was back.
CREATE TABLE incident_members (
    incident_id BIGINT      NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    slug        TEXT        NOT NULL,
    offline_at  TIMESTAMPTZ NOT NULL,
    revision    BIGINT      NOT NULL,
    back_at     TIMESTAMPTZ,
    PRIMARY KEY (incident_id, slug)
);
