-- iotd schema v2 for MySQL 8 / MariaDB 10.5+: commands to devices; same semantics as
-- migrations/sqlite/0002_commands.sql. All times are BIGINT UTC epoch milliseconds.
-- Idempotent (CREATE TABLE IF NOT EXISTS with the indexes inline): DDL commits implicitly,
-- so a migration that failed halfway is simply run again.
CREATE TABLE IF NOT EXISTS commands (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  command_id VARCHAR(64) NOT NULL,       -- 32 hex digits (128 random bits), what devices echo
  device_id VARCHAR(255) NOT NULL,
  command VARCHAR(255) NOT NULL,
  parameters MEDIUMTEXT NOT NULL,        -- JSON object
  state VARCHAR(16) NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'sent', 'acknowledged', 'failed', 'expired')),
  issued_at BIGINT NOT NULL,
  sent_at BIGINT,                        -- the broker's PUBACK
  completed_at BIGINT,                   -- acknowledged, failed or expired
  expires_at BIGINT NOT NULL,            -- issued_at + IOTD_COMMAND_TTL
  message TEXT NOT NULL DEFAULT (''),    -- the device's message, or why it failed
  UNIQUE KEY commands_command_id (command_id),
  KEY commands_device_issued (device_id, issued_at, id),
  KEY commands_state_expires (state, expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
