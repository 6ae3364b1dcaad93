-- iotd schema v1 for MySQL 8 / MariaDB 10.5+ (docs/architecture.md §10); same semantics as
-- migrations/sqlite/0001_init.sql. All times are BIGINT UTC epoch milliseconds.
-- One statement per "-- statement" chunk (MySQL refuses multi-statements). DDL commits
-- implicitly, so every statement is idempotent (CREATE TABLE IF NOT EXISTS with the indexes
-- inline; the seed upserts): a migration that failed halfway is simply run again.
-- Text that takes part in a key is VARCHAR (utf8mb4, at most 3072 key bytes); utf8mb4_bin
-- compares bytes, so 'Dev-1' and 'dev-1' are two devices as in SQLite and PostgreSQL.
-- Defaults of TEXT columns are written as expressions, DEFAULT (''), for MySQL 8.
-- No foreign keys: the writer keeps references consistent.
CREATE TABLE IF NOT EXISTS devices (
  pk BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  device_id VARCHAR(255) NOT NULL,
  name TEXT,
  type VARCHAR(255),
  location TEXT,
  status VARCHAR(32) NOT NULL DEFAULT 'active',
  metadata MEDIUMTEXT,                   -- JSON object
  api_key_hash VARCHAR(128),             -- SHA-256 hex of the device key
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_seen_at BIGINT,                   -- received_at of the newest stored message
  UNIQUE KEY devices_device_id (device_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- statement
CREATE TABLE IF NOT EXISTS metric_names (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  UNIQUE KEY metric_names_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- statement
-- One row per message. UNIQUE (device_pk, ts, dedup_key): content dedup (docs/architecture.md
-- §5), NULL keys never collide; also serves per-device ranges. InnoDB secondary indexes end
-- with the primary key, so messages_ts orders all-device ranges by (ts, id).
CREATE TABLE IF NOT EXISTS messages (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  device_pk BIGINT NOT NULL,
  ts BIGINT NOT NULL,                    -- device time
  received_at BIGINT NOT NULL,
  dedup_key BIGINT,                      -- NULL without device time
  metrics MEDIUMTEXT NOT NULL,           -- JSON object {name: number}
  extra MEDIUMTEXT,                      -- JSON object of non-metric fields
  UNIQUE KEY messages_device_ts (device_pk, ts, dedup_key),
  KEY messages_ts (ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- statement
-- Key order (device, minute, metric), as in SQLite (InnoDB clusters rows by it).
CREATE TABLE IF NOT EXISTS rollup_1m (
  device_pk BIGINT NOT NULL,
  bucket BIGINT NOT NULL,                -- start of the UTC minute
  metric_id BIGINT NOT NULL,
  n BIGINT NOT NULL,
  sum DOUBLE NOT NULL,
  min DOUBLE NOT NULL,
  max DOUBLE NOT NULL,
  PRIMARY KEY (device_pk, bucket, metric_id),
  KEY rollup_1m_bucket (bucket)
) ENGINE=InnoDB
-- statement
CREATE TABLE IF NOT EXISTS latest_values (
  device_pk BIGINT NOT NULL,
  metric_id BIGINT NOT NULL,
  ts BIGINT NOT NULL,
  value DOUBLE NOT NULL,
  PRIMARY KEY (device_pk, metric_id)
) ENGINE=InnoDB
-- statement
-- scope_value is '' for global rules (NOT NULL: NULLs would defeat the UNIQUE).
CREATE TABLE IF NOT EXISTS rules (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  metric VARCHAR(255) NOT NULL,
  scope VARCHAR(16) NOT NULL DEFAULT 'global' CHECK (scope IN ('global', 'type', 'device')),
  scope_value VARCHAR(255) NOT NULL DEFAULT '',
  min_value DOUBLE,
  max_value DOUBLE,
  severity VARCHAR(32) NOT NULL DEFAULT 'warning',
  hysteresis DOUBLE NOT NULL DEFAULT 0,
  UNIQUE KEY rules_metric_scope (metric, scope, scope_value)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- statement
-- Seed 000 defaults (a re-run after a partial failure changes nothing).
INSERT INTO rules(metric, scope, scope_value, min_value, max_value, severity, hysteresis) VALUES
  ('temperature', 'global', '', 0, 50, 'warning', 0),
  ('humidity', 'global', '', 10, 90, 'warning', 0),
  ('voltage', 'global', '', 200, 240, 'warning', 0),
  ('current', 'global', '', 0, 10, 'warning', 0),
  ('pressure', 'global', '', 900, 1100, 'warning', 0)
ON DUPLICATE KEY UPDATE id = id
-- statement
CREATE TABLE IF NOT EXISTS alerts (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  device_pk BIGINT NOT NULL,
  metric VARCHAR(255) NOT NULL,
  kind VARCHAR(32) NOT NULL DEFAULT 'threshold',
  severity VARCHAR(32) NOT NULL DEFAULT 'warning',
  state VARCHAR(32) NOT NULL DEFAULT 'active',
  message TEXT NOT NULL DEFAULT (''),
  threshold_min DOUBLE,
  threshold_max DOUBLE,
  first_value DOUBLE NOT NULL,
  last_value DOUBLE NOT NULL,
  peak_value DOUBLE NOT NULL,
  count BIGINT NOT NULL DEFAULT 1,
  raised_ts BIGINT NOT NULL,
  raised_received_at BIGINT NOT NULL,
  updated_ts BIGINT NOT NULL,
  cleared_ts BIGINT,
  acknowledged INT NOT NULL DEFAULT 0,
  acknowledged_at BIGINT,
  acknowledged_by TEXT,
  KEY alerts_device_state (device_pk, state),
  KEY alerts_raised (raised_ts)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- statement
CREATE TABLE IF NOT EXISTS rejects (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  source VARCHAR(255) NOT NULL,
  topic TEXT NOT NULL DEFAULT (''),
  payload LONGBLOB,
  payload_size BIGINT NOT NULL DEFAULT 0,  -- before capping
  reason VARCHAR(255) NOT NULL,
  detail TEXT NOT NULL DEFAULT (''),
  received_at BIGINT NOT NULL,
  KEY rejects_received (received_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
-- statement
CREATE TABLE IF NOT EXISTS ingest_checkpoint (
  instance_id VARCHAR(255) NOT NULL PRIMARY KEY,
  journal_uuid VARCHAR(64) NOT NULL,
  seq BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
