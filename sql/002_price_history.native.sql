-- Raw prices on plain PostgreSQL: declarative range partitions by day (created on
-- demand by the writer), so retention drops whole partitions like TimescaleDB
-- drops chunks. No separate time index: the partition bound prunes by day and the
-- primary key serves item lookups (a time index cost ~35% of COPY speed).
-- No foreign keys on this hot table: the writer resolves every item first.
CREATE TABLE price_history (
    time        timestamptz NOT NULL,
    item_id     integer     NOT NULL,
    provider_id smallint    NOT NULL,
    price_cents bigint      NOT NULL,
    volume      integer,
    listings    integer,
    PRIMARY KEY (item_id, provider_id, time)
) PARTITION BY RANGE (time);
