-- Uptime's coverage: the spans the leader heard the bus (it ran, led the sweep, and its
-- partition guard was not deaf). The leader opens a span when it starts hearing and
-- moves its end forward every few seconds; what no span covers (the service was down,
-- no replica led, or the leader could not hear) is "unknown" in every uptime report.
-- History retention never touches it.
CREATE TABLE uptime_heard (
    started_at TIMESTAMPTZ PRIMARY KEY,
    ended_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT uptime_heard_order_check CHECK (ended_at >= started_at)
);

CREATE INDEX uptime_heard_ended_at_idx ON uptime_heard (ended_at);
