-- Raw prices on TimescaleDB: a hypertable with daily chunks. The default time
-- index is not created (it cost ~35% of COPY speed); chunk exclusion prunes by
-- time and the primary key serves item lookups.
CREATE TABLE price_history (
    time        timestamptz NOT NULL,
    item_id     integer     NOT NULL,
    provider_id smallint    NOT NULL,
    price_cents bigint      NOT NULL,
    volume      integer,
    listings    integer,
    PRIMARY KEY (item_id, provider_id, time)
);

SELECT create_hypertable(
    'price_history',
    by_range('time', INTERVAL '1 day'),
    create_default_indexes => false
);
