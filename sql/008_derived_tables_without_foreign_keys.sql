-- Derived tables are rewritten by their assets in bulk on every run (tens of
-- thousands of rows an hour for item_volatility); a foreign-key trigger per row
-- cost more than computing the metrics. Their ids come from items/providers by
-- construction (they are computed from the aggregates), as price_history's do.
-- The constraints' names were chosen by PostgreSQL (item_volatility_v1 already
-- held the plain ones), so they are looked up rather than named.
DO $migration$
DECLARE
    fk record;
BEGIN
    FOR fk IN
        SELECT conrelid::regclass AS tbl, conname
        FROM pg_constraint
        WHERE contype = 'f'
          AND conrelid IN ('item_volatility'::regclass, 'market_spreads'::regclass)
    LOOP
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.tbl, fk.conname);
    END LOOP;
END
$migration$;
