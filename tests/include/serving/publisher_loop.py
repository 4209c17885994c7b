"""The pipeline's stand-in for test_publish: publish two warehouses in turn, in its own process, for a while.

Each round validates what the warehouse holds (a "passed" verdict with its fingerprints) and publishes
every month of `MONTHS`, so each month's served version changes every round (or is withdrawn, where the
warehouse has no rows of it); versions superseded more than `grace_s` ago are deleted as it goes.
Prints {"publishes": n} when `seconds` have passed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

from include.serving.publish import month_fingerprints, publish, publish_validation

MONTHS = ("2025-01", "2025-02", "2025-03")


def main(warehouses: list[Path], serving_root: Path, seconds: float, grace_s: float) -> None:
    deadline, publishes = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        warehouse = warehouses[publishes % len(warehouses)]
        with duckdb.connect(str(warehouse), read_only=True) as con:
            fingerprints = month_fingerprints(con, MONTHS)
        verdict = {"status": "passed", "billing_periods": ",".join(MONTHS), "fingerprints": fingerprints}
        publish_validation(serving_root, verdict, grace_s)
        publish(warehouse, serving_root, MONTHS, grace_s)
        publishes += 1
    print(json.dumps({"publishes": publishes}))


if __name__ == "__main__":
    *paths, root, seconds, grace = sys.argv[1:]
    main([Path(path) for path in paths], Path(root), float(seconds), float(grace))
