-- Service level objectives made over REST (docs/uptime.md); the catalog file's are
-- not stored. `subject` is the project's slug or the tag, as `kind` says.
CREATE TABLE slos (
    name        TEXT             PRIMARY KEY,
    kind        TEXT             NOT NULL CHECK (kind IN ('project', 'tag')),
    subject     TEXT             NOT NULL,
    objective   DOUBLE PRECISION NOT NULL CHECK (objective > 0 AND objective < 100),
    time_window TEXT             NOT NULL,
    updated_at  TIMESTAMPTZ      NOT NULL
);
