"""``python -m benchmarks faults [options]``: the fault suite (``--help`` for its options).

The other benchmarks run as their own modules, e.g. ``python -m benchmarks.copy_writer``.
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    if argv[:1] == ["faults"]:
        from benchmarks.faults.suite import main as faults

        return faults(argv[1:])
    print(
        "usage: python -m benchmarks faults [--help]   (other benchmarks:"
        " python -m benchmarks.copy_writer, benchmarks.pricempire_memory, benchmarks.time_index)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
