DROP TABLE uptime_heard;
