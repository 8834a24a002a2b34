DROP TABLE notify_deliveries;
DROP TABLE notify_cursors;
DROP TABLE notify_channels;
