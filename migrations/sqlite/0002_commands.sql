-- iotd schema v2 for SQLite: commands to devices (docs/architecture.md §10). All times
-- are BIGINT UTC epoch milliseconds. A command is published to the device's command topic
-- and moves pending -> sent (broker PUBACK) -> acknowledged | failed (the device's ack) |
-- expired (no answer within IOTD_COMMAND_TTL). device_id is kept as text, not a device pk:
-- a command's history outlives the device row.
CREATE TABLE commands (
  id INTEGER PRIMARY KEY,
  command_id TEXT NOT NULL UNIQUE,       -- 32 hex digits (128 random bits), what devices echo
  device_id TEXT NOT NULL,
  command TEXT NOT NULL,
  parameters TEXT NOT NULL,              -- JSON object
  state TEXT NOT NULL DEFAULT 'pending'
    CHECK (state IN ('pending', 'sent', 'acknowledged', 'failed', 'expired')),
  issued_at BIGINT NOT NULL,
  sent_at BIGINT,                        -- the broker's PUBACK
  completed_at BIGINT,                   -- acknowledged, failed or expired
  expires_at BIGINT NOT NULL,            -- issued_at + IOTD_COMMAND_TTL
  message TEXT NOT NULL DEFAULT ''       -- the device's message, or why it failed
)
-- statement
-- A device's commands, newest first (GET /api/v1/devices/{id}/commands).
CREATE INDEX commands_device_issued ON commands(device_id, issued_at, id)
-- statement
-- The expiry sweep: open commands by deadline.
CREATE INDEX commands_state_expires ON commands(state, expires_at)
