"""Peak memory of the Pricempire adapter on a large catalogue body.

Generates a Pricempire-shaped body of ``--mb`` megabytes (every item with eight
sources' entries and ``meta``, like the real v4 answer), serves it from a local
HTTP server with a Content-Length, and runs one ``fetch`` in a fresh process.
Reports the process's resident memory before the fetch (interpreter + libraries)
and its peak during the fetch (``ru_maxrss``).

``--method loads`` measures the previous approach instead, for comparison: the
whole body downloaded into memory, then ``json.loads`` with an object hook that
drops what is not needed.

    python -m benchmarks.pricempire_memory --mb 300
    python -m benchmarks.pricempire_memory --mb 300 --method loads
"""

from __future__ import annotations

import argparse
import http.server
import json
import multiprocessing
import resource
import tempfile
import threading
import time
from pathlib import Path

SOURCES = ("buff163", "skinport", "dmarket", "csmoney", "youpin", "c5game", "csfloat", "swapgg")


def _entry(source: str, i: int) -> dict[str, object]:
    return {
        "provider_key": source,
        "price": 100 + (i * 37) % 90_000,
        "count": str(i % 500),
        "updated_at": "2026-11-24T13:12:45.331Z",
        "last_checked_at": "2026-11-24T13:40:02.120Z",
        "meta": {"rate": 0.1398, "original_price": 88.26, "original_currency": "CNY"},
        "original_price": None,
        "exchange_rate": None,
    }


def write_body(path: Path, megabytes: int) -> int:
    """A JSON array of catalogue items, about ``megabytes`` MB; returns the item count."""
    target, size, count = megabytes * 1024 * 1024, 1, 0
    with path.open("wb") as out:
        out.write(b"[")
        while size < target:
            item = {
                "market_hash_name": f"★ StatTrak™ Item {count} | Fade (Factory New)",
                "image": "/panorama/images/econ/default_generated/placeholder_png.png",
                "liquidity": 71.4,
                "count": str(count % 9000),
                "rank": count,
                "marketcap": "1840233",
                "trades_7d": "311",
                "trades_30d": None,
                "prices": [_entry(source, count) for source in SOURCES],
            }
            data = (b"," if count else b"") + json.dumps(item, ensure_ascii=False).encode()
            out.write(data)
            size += len(data)
            count += 1
        out.write(b"]")
    return count


def _serve(path: Path) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(path.stat().st_size))
            self.end_headers()
            with path.open("rb") as body:
                while chunk := body.read(1 << 20):
                    self.wfile.write(chunk)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _measure(base_url: str, method: str, cap_mb: int, results: multiprocessing.Queue) -> None:
    from datetime import UTC, datetime, timedelta

    import httpx
    import polars as pl  # noqa: F401 (loaded before the baseline, as in a run)

    from tracera_pipeline.providers.http_client import HttpSettings
    from tracera_pipeline.providers.pricempire import (
        PricempireSettings,
        build_pricempire_provider,
    )

    before = _rss_kib()
    started = time.perf_counter()
    if method == "stream":
        http = HttpSettings(read_timeout=120, total_timeout=600, max_response_bytes=cap_mb << 20)
        provider = build_pricempire_provider(
            PricempireSettings(base_url=base_url, api_key="bench"), http=http
        )
        now = datetime.now(UTC)
        rows = provider.fetch(now - timedelta(minutes=1), now + timedelta(minutes=1)).height
    else:
        body = httpx.get(base_url + "/v4/paid/items/prices", timeout=120).content

        def keep(obj: dict) -> object:
            if "provider_key" in obj:
                return (
                    (obj.get("price"), obj.get("count"))
                    if obj["provider_key"] == "buff163"
                    else None
                )
            if "prices" in obj:
                return (obj.get("market_hash_name"), obj.get("prices"))
            return None

        rows = len(json.loads(body, object_hook=keep))
        del body
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results.put({"rows": rows, "before_mib": before / 1024, "peak_mib": peak / 1024, "s": seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=300, help="body size in MB")
    parser.add_argument("--method", choices=("stream", "loads"), default="stream")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "prices.json"
        items = write_body(path, args.mb)
        server = _serve(path)
        base_url = f"http://127.0.0.1:{server.server_address[1]}"
        ctx = multiprocessing.get_context("spawn")
        results = ctx.Queue()
        worker = ctx.Process(target=_measure, args=(base_url, args.method, args.mb + 64, results))
        worker.start()
        result = results.get(timeout=1800)
        worker.join()
        server.shutdown()
    print(
        f"{args.method}: body {args.mb} MB, {items} items -> {result['rows']} rows in"
        f" {result['s']:.1f} s; RSS before the fetch {result['before_mib']:.0f} MiB,"
        f" peak {result['peak_mib']:.0f} MiB"
        f" (+{result['peak_mib'] - result['before_mib']:.0f} MiB for the fetch)"
    )


if __name__ == "__main__":
    main()
