"""The scale and fault measurements of issue 19, one entry point: ``python bench/scale.py MODE [ARGS]``.

Each mode is its own script (bench/scale_MODE.py, runnable alone) so that one measurement can change
without touching the others; this file only names them and passes the arguments on.

    lists    store size: first page and full paging of every List* (SQLite and PostgreSQL)
    writes   AssumeRole with ~100 IAM writes/s in the background vs without
    audit    peak journal rate vs delivery rate, backlog, index size, LookupEvents per filter
    faults   kill -9 of a worker, restart under load, first request after a restart
    all      every mode above, one after another
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODES = ("lists", "writes", "audit", "faults")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in (*MODES, "all"):
        print(__doc__.strip(), file=sys.stderr)
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    modes = MODES if argv[0] == "all" else (argv[0],)
    status = 0
    for mode in modes:
        print(f"== bench/scale.py {mode}", flush=True)
        status |= subprocess.call([sys.executable, str(HERE / f"scale_{mode}.py"), *argv[1:]])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
