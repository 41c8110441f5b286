-- Catalogue, quarantine, portfolios and pipeline state: identical in both flavours.

CREATE TABLE providers (
    provider_id      smallint PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    supports_history boolean NOT NULL
);

INSERT INTO providers (provider_id, name, supports_history) VALUES
    (1, 'synthetic',  true),
    (2, 'steam',      true),
    (3, 'skinport',   false),
    (4, 'csfloat',    false),
    (5, 'pricempire', false);

CREATE TABLE items (
    item_id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market_hash_name text NOT NULL UNIQUE CHECK (market_hash_name <> ''),
    first_seen       timestamptz NOT NULL DEFAULT now()
);

-- Rows a provider returned that failed validation: kept with the raw value and
-- the reason, so nothing a provider sent is silently lost.
CREATE TABLE rejected_price_points (
    rejection_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rejected_at      timestamptz NOT NULL DEFAULT now(),
    provider         text NOT NULL,
    partition_key    text,
    market_hash_name text,
    observed_at      timestamptz,
    reason           text NOT NULL,
    raw              jsonb NOT NULL
);
CREATE INDEX rejected_price_points_provider_time
    ON rejected_price_points (provider, rejected_at);

CREATE TABLE portfolios (
    portfolio_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    owner        text
);

CREATE TABLE portfolio_holdings (
    portfolio_id integer NOT NULL REFERENCES portfolios ON DELETE CASCADE,
    item_id      integer NOT NULL REFERENCES items,
    quantity     integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (portfolio_id, item_id)
);

-- Small key/value state, e.g. the raw-data retention watermark.
CREATE TABLE pipeline_state (
    key        text PRIMARY KEY,
    value      text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
