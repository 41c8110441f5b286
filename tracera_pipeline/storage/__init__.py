"""PostgreSQL/TimescaleDB storage: migrations, COPY writer, aggregates, retention."""
