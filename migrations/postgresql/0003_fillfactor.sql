-- iotd schema v3 for PostgreSQL only: room on every page of the tables the writer updates
-- in place, so an update can be HOT (heap-only: the new row version goes on the same page,
-- no new index entries, the old version pruned on that page). latest_values and each
-- device's last_seen_at are rewritten by every batch, a minute's rollup row by every batch
-- of that minute; with full pages (the default fillfactor 100) most such updates
-- moved the row to another page and added an entry to every index of the table (rollup_1m:
-- 1,149 of 12,000 updates were HOT in a drain without it, 8,385 with it).
-- Measured (BENCHMARKS.md, issue 14): writer drain +13-20 %, rollup_1m smaller (HOT pruning
-- reuses the space of dead versions). Only new pages are affected; no table is rewritten.
ALTER TABLE latest_values SET (fillfactor = 50)
-- statement
ALTER TABLE rollup_1m SET (fillfactor = 70)
-- statement
ALTER TABLE devices SET (fillfactor = 70)
