-- iotd schema v3. On PostgreSQL it gives the tables the writer updates in place room for
-- heap-only updates (migrations/postgresql/0003_fillfactor.sql); this dialect has no such
-- storage parameter. The statement below changes nothing: it keeps the version numbers of
-- every dialect the same (Migrations.EveryDialectHasTheSameNumberedMigrations).
DELETE FROM schema_migrations WHERE version < 0
