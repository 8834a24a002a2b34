DROP TABLE change_log_state;
DROP TABLE leases;
DROP TABLE change_log;
