-- Group rollups (see migrations/postgres); days are `YYYY-MM-DD` text.
CREATE TABLE uptime_group_daily (
    day               TEXT    NOT NULL,
    scope             TEXT    NOT NULL,
    projects          BIGINT  NOT NULL,
    online_us         BIGINT  NOT NULL,
    degraded_us       BIGINT  NOT NULL,
    offline_us        BIGINT  NOT NULL,
    maintenance_us    BIGINT  NOT NULL,
    unknown_us        BIGINT  NOT NULL,
    outages           BIGINT  NOT NULL,
    longest_outage_us BIGINT  NOT NULL,
    PRIMARY KEY (scope, day)
);

CREATE TABLE uptime_group_edges (
    day                 TEXT    NOT NULL,
    scope               TEXT    NOT NULL,
    slug                TEXT    NOT NULL,
    leading_offline_us  BIGINT  NOT NULL,
    trailing_offline_us BIGINT  NOT NULL,
    PRIMARY KEY (scope, day, slug)
);

CREATE INDEX uptime_group_edges_day_idx ON uptime_group_edges (day);

ALTER TABLE uptime_rolled_days ADD COLUMN grouped BOOLEAN NOT NULL DEFAULT FALSE;
