ALTER TABLE uptime_rolled_days DROP COLUMN grouped;
DROP TABLE uptime_group_edges;
DROP TABLE uptime_group_daily;
