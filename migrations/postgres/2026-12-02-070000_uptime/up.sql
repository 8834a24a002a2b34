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

-- Daily rollups: each project's uptime figures per closed UTC day (microseconds; the
-- offline stretch a day starts and ends with lets adjacent days combine exactly). The
-- leader writes a day once it is over (plus a grace), from the raw history; history
-- retention never touches them. Rows stay after the project's removal.
CREATE TABLE uptime_daily (
    day                 DATE    NOT NULL,
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

-- The days rolled up (a day with no project is rolled up too).
CREATE TABLE uptime_rolled_days (
    day       DATE        PRIMARY KEY,
    rolled_at TIMESTAMPTZ NOT NULL
);
