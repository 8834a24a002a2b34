-- Several replicas, one truth: the ordered change log every replica follows, the
-- sweeper lease that elects the one replica that writes transitions, and the outbox
-- cursor of the status events published from the log.

-- Every catalog change and status transition, numbered in commit order. Writers take
-- pg_advisory_xact_lock(<log key>) before appending, so revisions commit in order
-- and a reader that saw revision N has seen every change up to N.
CREATE TABLE change_log (
    revision          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind              TEXT        NOT NULL,
    slug              TEXT        NOT NULL,
    at                TIMESTAMPTZ NOT NULL,
    from_status       TEXT,
    to_status         TEXT,
    reason            TEXT,
    last_heartbeat_at TIMESTAMPTZ,
    CONSTRAINT change_log_kind_check
        CHECK (kind IN ('registered', 'updated', 'deleted', 'transition'))
);

CREATE INDEX change_log_at_idx ON change_log (at);

-- The Kubernetes Lease model: one row per lease, renewed by its holder every tick; the
-- term grows by one whenever the holder changes. Writes fenced by the lease check the
-- term in their own transaction.
CREATE TABLE leases (
    name       TEXT        PRIMARY KEY,
    holder     TEXT        NOT NULL,
    term       BIGINT      NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- One row: how far the log was trimmed, and how far its status events were published.
CREATE TABLE change_log_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    trimmed_through   BIGINT  NOT NULL DEFAULT 0,
    published_through BIGINT  NOT NULL DEFAULT 0
);

INSERT INTO change_log_state (id) VALUES (1);

-- Projects that exist before the log starts enter it as registered, so a replica that
-- follows from revision 0 builds the same catalog as one that loads a snapshot.
INSERT INTO change_log (kind, slug, at)
SELECT 'registered', slug, created_at FROM projects ORDER BY slug;
