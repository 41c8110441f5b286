-- Every stored raw price is positive. The validation already quarantines zero and
-- negative prices before the COPY; with the constraint PostgreSQL refuses any that
-- get past it (a manual fix-up included), and the raw steps' positive_prices check
-- reads its answer from the schema instead of scanning the provider's window (the
-- whole day's partition or chunk: no time index) in every step.
--
-- Added NOT VALID first (instant, binds every row written from now on), then
-- validated against the history in one scan. Where old rows break it, it stays
-- NOT VALID and the check keeps counting: nothing is deleted for you.
ALTER TABLE price_history
    ADD CONSTRAINT price_history_price_positive CHECK (price_cents > 0) NOT VALID;

DO $migration$
BEGIN
    ALTER TABLE price_history VALIDATE CONSTRAINT price_history_price_positive;
EXCEPTION WHEN check_violation THEN
    RAISE WARNING 'price_history holds prices of zero or less; the positive_prices check '
        'counts them in each window until they are fixed and '
        '"ALTER TABLE price_history VALIDATE CONSTRAINT price_history_price_positive" is run';
END
$migration$;
