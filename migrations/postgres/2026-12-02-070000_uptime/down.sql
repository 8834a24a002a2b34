DROP TABLE uptime_rolled_days;
DROP TABLE uptime_daily;
DROP TABLE uptime_heard;
