"""Price providers: adapters that turn market APIs into one polars schema."""
