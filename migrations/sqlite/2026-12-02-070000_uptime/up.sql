-- Uptime's coverage: the spans the leader heard the bus (see migrations/postgres).
-- Times are fixed-width UTC text, so text order is time order.
CREATE TABLE uptime_heard (
    started_at TEXT PRIMARY KEY NOT NULL,
    ended_at   TEXT NOT NULL,
    CONSTRAINT uptime_heard_order_check CHECK (ended_at >= started_at)
);

CREATE INDEX uptime_heard_ended_at_idx ON uptime_heard (ended_at);

-- Daily rollups (see migrations/postgres); days are `YYYY-MM-DD` text.
CREATE TABLE uptime_daily (
    day                 TEXT    NOT NULL,
    slug                TEXT    NOT NULL,
    online_us           BIGINT  NOT NULL,
    degraded_us         BIGINT  NOT NULL,
    offline_us          BIGINT  NOT NULL,
    maintenance_us      BIGINT  NOT NULL,
    unknown_us          BIGINT  NOT NULL,
    outages             BIGINT  NOT NULL,
    longest_outage_us   BIGINT  NOT NULL,
    leading_offline_us  BIGINT  NOT NULL,
    trailing_offline_us BIGINT  NOT NULL,
    PRIMARY KEY (day, slug)
);

CREATE INDEX uptime_daily_slug_day_idx ON uptime_daily (slug, day);

CREATE TABLE uptime_rolled_days (
    day       TEXT PRIMARY KEY NOT NULL,
    rolled_at TEXT NOT NULL
);
