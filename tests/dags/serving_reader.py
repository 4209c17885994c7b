"""A dashboard stand-in for test_serving_during_writes: query the serving layer in a loop, in its own process.

Writes one JSON line per query: {"months": {period: [rows, "Σ BilledCost"]}} or {"error": "..."}.
Every few queries it opens a fresh connection, as Metabase's pool does, so new files are globbed again.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from include.serving.publish import connect_serving

MONTHS_SQL = "SELECT billing_period, count(*), sum(BilledCost)::VARCHAR FROM cost_and_usage GROUP BY ALL"


def main(serving_root: str, out_file: str, stop_file: str) -> None:
    stop = Path(stop_file)
    con = None
    with open(out_file, "w") as out:
        for iteration in range(10**9):
            if stop.exists():
                break
            try:
                if con is None or iteration % 5 == 0:
                    con = con.close() if con else None
                    con = connect_serving(Path(serving_root))
                months = {period: [rows, billed] for period, rows, billed in con.execute(MONTHS_SQL).fetchall()}
                out.write(json.dumps({"months": months}) + "\n")
            except Exception as err:  # every failure is the finding: record it and go on
                out.write(json.dumps({"error": f"{type(err).__name__}: {err}"}) + "\n")
                con = None
            out.flush()
            time.sleep(0.005)


if __name__ == "__main__":
    main(*sys.argv[1:4])
