"""Redis: latest prices, volatility rankings, pub/sub announcements."""
