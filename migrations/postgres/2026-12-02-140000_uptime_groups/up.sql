-- Group rollups: the fleet's and each tag's uptime figures per closed UTC day (the
-- members' figures added up), so that a group's report reads one row per day instead
-- of one per project and day. Written by the leader with the project rollups, in the
-- same transaction; history retention never touches them. `scope` is `fleet` or
-- `tag:` and the tag in lower case.
CREATE TABLE uptime_group_daily (
    day               DATE    NOT NULL,
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

-- The members of a group offline at either midnight of a day: what joins an outage
-- across midnight into one.
CREATE TABLE uptime_group_edges (
    day                 DATE    NOT NULL,
    scope               TEXT    NOT NULL,
    slug                TEXT    NOT NULL,
    leading_offline_us  BIGINT  NOT NULL,
    trailing_offline_us BIGINT  NOT NULL,
    PRIMARY KEY (scope, day, slug)
);

CREATE INDEX uptime_group_edges_day_idx ON uptime_group_edges (day);

-- Days rolled up before group rollups existed are not grouped yet: the leader
-- regroups them from their project rollups.
ALTER TABLE uptime_rolled_days ADD COLUMN grouped BOOLEAN NOT NULL DEFAULT FALSE;
