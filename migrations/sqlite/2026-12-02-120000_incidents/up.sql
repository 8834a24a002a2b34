-- Incidents and their members (see migrations/postgres). Times are the store's
-- fixed-width UTC text.
CREATE TABLE incidents (
    id                BIGINT  PRIMARY KEY NOT NULL,
    started_at        TEXT    NOT NULL,
    opened_at         TEXT    NOT NULL,
    ended_at          TEXT,
    resolved_revision BIGINT,
    trigger           TEXT    NOT NULL CHECK (trigger IN ('fleet', 'tag')),
    tag               TEXT,
    offline           INTEGER NOT NULL,
    tag_size          INTEGER
);
CREATE INDEX incidents_resolved_idx ON incidents (resolved_revision);

CREATE TABLE incident_members (
    incident_id BIGINT  NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    slug        TEXT    NOT NULL,
    offline_at  TEXT    NOT NULL,
    revision    BIGINT  NOT NULL,
    back_at     TEXT,
    PRIMARY KEY (incident_id, slug)
);
