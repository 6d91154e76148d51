-- One row per jobd process that ever served this table: who it is, what it
-- serves and when it last proved it was alive. Times are unix milliseconds.
CREATE TABLE IF NOT EXISTS {{.Instances}} (
  `id` bigint(20) UNSIGNED NOT NULL AUTO_INCREMENT,
  `name` varchar(255) NOT NULL,
  `host` varchar(255) NOT NULL,
  `pid` int(11) NOT NULL,
  `version` varchar(64) NOT NULL DEFAULT '',
  `targets` text NOT NULL,
  `state` enum('alive','stopped','lost') NOT NULL DEFAULT 'alive',
  `started_at` bigint(20) NOT NULL,
  `heartbeat_at` bigint(20) NOT NULL,
  `stopped_at` bigint(20) DEFAULT NULL,
  PRIMARY KEY (`id`),
  KEY `jobd_state_heartbeat_idx` (`state`, `heartbeat_at`),
  KEY `jobd_name_host_idx` (`name`, `host`, `state`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
