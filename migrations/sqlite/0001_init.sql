-- iotd schema v1 for SQLite (docs/architecture.md §10). All times are BIGINT UTC epoch
-- milliseconds. Statements are separated by "-- statement" lines (the SOCI sqlite backend runs
-- only the first statement of a string). No foreign keys: the writer keeps references
-- consistent.
CREATE TABLE devices (
  pk INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a cached pk stays meaningful
  device_id TEXT NOT NULL UNIQUE,
  name TEXT,
  type TEXT,
  location TEXT,
  status TEXT NOT NULL DEFAULT 'active',
  metadata TEXT,                         -- JSON object
  api_key_hash TEXT,                     -- SHA-256 hex of the device key
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  last_seen_at BIGINT                    -- received_at of the newest stored message
)
-- statement
CREATE TABLE metric_names (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
)
-- statement
-- One row per message. id is the rowid ("INTEGER PRIMARY KEY", not BIGINT, to alias it).
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  device_pk BIGINT NOT NULL,
  ts BIGINT NOT NULL,                    -- device time
  received_at BIGINT NOT NULL,
  dedup_key BIGINT,                      -- NULL without device time: NULLs never collide
  metrics TEXT NOT NULL,                 -- JSON object {name: number}
  extra TEXT                             -- JSON object of non-metric fields
)
-- statement
-- Content dedup (docs/architecture.md §5); also serves per-device time ranges.
CREATE UNIQUE INDEX messages_device_ts ON messages(device_pk, ts, dedup_key)
-- statement
-- All-device time ranges, ordered by (ts, id): the rowid is the last column of every index.
CREATE INDEX messages_ts ON messages(ts)
-- statement
-- Key order (device, minute, metric): a commit adds each device's new minute in one place
-- (metric-first order would touch one page per device and metric: 5x the WAL writes).
CREATE TABLE rollup_1m (
  device_pk BIGINT NOT NULL,
  bucket BIGINT NOT NULL,                -- start of the UTC minute
  metric_id BIGINT NOT NULL,
  n BIGINT NOT NULL,
  sum REAL NOT NULL,
  min REAL NOT NULL,
  max REAL NOT NULL,
  PRIMARY KEY (device_pk, bucket, metric_id)
) WITHOUT ROWID
-- statement
CREATE INDEX rollup_1m_bucket ON rollup_1m(bucket)
-- statement
CREATE TABLE latest_values (
  device_pk BIGINT NOT NULL,
  metric_id BIGINT NOT NULL,
  ts BIGINT NOT NULL,
  value REAL NOT NULL,
  PRIMARY KEY (device_pk, metric_id)
) WITHOUT ROWID
-- statement
-- scope_value is '' for global rules (NOT NULL: NULLs would defeat the UNIQUE).
CREATE TABLE rules (
  id INTEGER PRIMARY KEY,
  metric TEXT NOT NULL,
  scope TEXT NOT NULL DEFAULT 'global' CHECK (scope IN ('global', 'type', 'device')),
  scope_value TEXT NOT NULL DEFAULT '',
  min_value REAL,
  max_value REAL,
  severity TEXT NOT NULL DEFAULT 'warning',
  hysteresis REAL NOT NULL DEFAULT 0,
  UNIQUE (metric, scope, scope_value)
)
-- statement
-- Seed 000 defaults.
INSERT INTO rules(metric, scope, scope_value, min_value, max_value, severity, hysteresis) VALUES
  ('temperature', 'global', '', 0, 50, 'warning', 0),
  ('humidity', 'global', '', 10, 90, 'warning', 0),
  ('voltage', 'global', '', 200, 240, 'warning', 0),
  ('current', 'global', '', 0, 10, 'warning', 0),
  ('pressure', 'global', '', 900, 1100, 'warning', 0)
-- statement
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY,
  device_pk BIGINT NOT NULL,
  metric TEXT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'threshold',
  severity TEXT NOT NULL DEFAULT 'warning',
  state TEXT NOT NULL DEFAULT 'active',
  message TEXT NOT NULL DEFAULT '',
  threshold_min REAL,
  threshold_max REAL,
  first_value REAL NOT NULL,
  last_value REAL NOT NULL,
  peak_value REAL NOT NULL,
  count BIGINT NOT NULL DEFAULT 1,
  raised_ts BIGINT NOT NULL,
  raised_received_at BIGINT NOT NULL,
  updated_ts BIGINT NOT NULL,
  cleared_ts BIGINT,
  acknowledged INTEGER NOT NULL DEFAULT 0,
  acknowledged_at BIGINT,
  acknowledged_by TEXT
)
-- statement
CREATE INDEX alerts_device_state ON alerts(device_pk, state)
-- statement
CREATE INDEX alerts_raised ON alerts(raised_ts)
-- statement
CREATE TABLE rejects (
  id INTEGER PRIMARY KEY,
  source TEXT NOT NULL,
  topic TEXT NOT NULL DEFAULT '',
  payload BLOB,
  payload_size BIGINT NOT NULL DEFAULT 0,  -- before capping
  reason TEXT NOT NULL,
  detail TEXT NOT NULL DEFAULT '',
  received_at BIGINT NOT NULL
)
-- statement
CREATE INDEX rejects_received ON rejects(received_at)
-- statement
CREATE TABLE ingest_checkpoint (
  instance_id TEXT PRIMARY KEY,
  journal_uuid TEXT NOT NULL,
  seq BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
)
