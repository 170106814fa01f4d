"""SageMaker Processing entry point: a landed snapshot in, its check out.

    check_snapshot.py --products /opt/ml/processing/input/products/products.parquet \
        [--previous /opt/ml/processing/input/previous/products.parquet --previous-snapshot ID] \
        --output /opt/ml/processing/output --where s3://… --row-tolerance 0.1

Writes ``catalog_search.snapshot_check``'s files; a failed check is written in the summary
(exit 0), bad input is one line (exit 1). The SQL it runs is the code input's ``sql/``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from catalog_search.snapshot_check import Inputs, check


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=Path, required=True, help="the snapshot's products (parquet)")
    parser.add_argument("--previous", type=Path, help="the newest earlier validated snapshot's products (parquet)")
    parser.add_argument("--previous-snapshot", help="its snapshot id")
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--where", required=True, help="the snapshot's URI, named in the report")
    parser.add_argument("--row-tolerance", type=float, required=True, help="how far the row count may move from the previous one's")
    args = parser.parse_args()
    if (args.previous is None) != (args.previous_snapshot is None):
        parser.error("--previous and --previous-snapshot go together")
    inputs = Inputs(args.products, args.previous, args.previous_snapshot, args.where, args.row_tolerance, Path(__file__).parent)
    try:
        summary = check(inputs, args.output)
    except (OSError, ValueError) as err:
        print(f"check_snapshot: {err}", file=sys.stderr)
        return 1
    print(json.dumps({"diff": summary["diff"], "checks_passed": summary["validation"]["success"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
