-- Service level objectives made over REST (see migrations/postgres).
CREATE TABLE slos (
    name        TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('project', 'tag')),
    subject     TEXT    NOT NULL,
    objective   DOUBLE  NOT NULL CHECK (objective > 0 AND objective < 100),
    time_window TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);
