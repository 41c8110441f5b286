-- Native flavour: portfolio_snapshots stays a plain table (a few rows an hour);
-- this no-op keeps version numbers aligned with the TimescaleDB flavour.
SELECT 1;
