-- Markets are a dimension (issue "numbers a user can trust"). Common part:
-- new markets, per-market volatility, cross-market spreads, reference prices.

-- Simulated markets beside `synthetic` (same items, a market-specific price level
-- and noise) so a demo without network shows multi-market output; and `legacy`:
-- aggregate buckets of a pre-upgrade database whose raw rows retention had
-- already dropped. Those blended every market and cannot be split again, so they
-- keep their own market name instead of posing as one real market.
INSERT INTO providers (provider_id, name, supports_history) VALUES
    (0, 'legacy',          false),
    (6, 'synthetic_steam', true),
    (7, 'synthetic_buff',  true);

-- The previous volatility (stddev of complete bucket averages, markets blended)
-- is kept as it was, under a new name; nothing reads it any more.
ALTER TABLE item_volatility RENAME TO item_volatility_v1;
ALTER INDEX item_volatility_pkey RENAME TO item_volatility_v1_pkey;

-- Sliding-window metrics per item and market: for window W as of T, over the
-- samples in [T - W, T), from the 1h aggregates (count, sums combine exactly).
CREATE TABLE item_volatility (
    window_name              text             NOT NULL CHECK (window_name IN ('1h', '24h', '7d')),
    as_of                    timestamptz      NOT NULL,
    item_id                  integer          NOT NULL REFERENCES items,
    provider_id              smallint         NOT NULL REFERENCES providers,
    samples                  bigint           NOT NULL,
    mean_cents               double precision NOT NULL,
    stddev_cents             double precision NOT NULL,
    previous_mean_cents      double precision,
    pct_change               double precision,
    bollinger_upper_cents    double precision NOT NULL,
    bollinger_lower_cents    double precision NOT NULL,
    coefficient_of_variation double precision,
    trend_cents_per_hour     double precision,
    PRIMARY KEY (window_name, as_of, item_id, provider_id)
);

-- Each market's hourly price of an item side by side: cheapest, dearest, and the
-- spread gross and net of the selling market's fee.
CREATE TABLE market_spreads (
    bucket             timestamptz      NOT NULL,
    item_id            integer          NOT NULL REFERENCES items,
    markets            smallint         NOT NULL,
    prices             jsonb            NOT NULL,
    cheapest_market    text             NOT NULL,
    cheapest_cents     double precision NOT NULL,
    dearest_market     text             NOT NULL,
    dearest_cents      double precision NOT NULL,
    spread_pct         double precision NOT NULL,
    best_net_market    text             NOT NULL,
    best_net_cents     double precision NOT NULL,
    net_spread_pct     double precision NOT NULL,
    PRIMARY KEY (bucket, item_id)
);

-- Which market priced each held item at each snapshot time, under the reference
-- rule (a market name, or "median" over the markets listed in `markets`).
CREATE TABLE reference_prices (
    time        timestamptz NOT NULL,
    item_id     integer     NOT NULL REFERENCES items,
    price_cents bigint      NOT NULL,
    market      text        NOT NULL,
    markets     text[]      NOT NULL,
    observed_at timestamptz NOT NULL,
    PRIMARY KEY (time, item_id)
);

-- Snapshots say which rule valued them and how many holdings each market priced;
-- snapshots taken before this migration keep NULL here.
ALTER TABLE portfolio_snapshots
    ADD COLUMN reference_rule text,
    ADD COLUMN priced_by jsonb;
