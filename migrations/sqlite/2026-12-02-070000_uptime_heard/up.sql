-- Uptime's coverage: the spans the leader heard the bus (see migrations/postgres).
-- Times are fixed-width UTC text, so text order is time order.
CREATE TABLE uptime_heard (
    started_at TEXT PRIMARY KEY NOT NULL,
    ended_at   TEXT NOT NULL,
    CONSTRAINT uptime_heard_order_check CHECK (ended_at >= started_at)
);

CREATE INDEX uptime_heard_ended_at_idx ON uptime_heard (ended_at);
