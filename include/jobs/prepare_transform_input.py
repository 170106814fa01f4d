"""SageMaker Processing entry point: a snapshot's products in, its Batch Transform input out.

    prepare_transform_input.py --products /opt/ml/processing/input/products/products.parquet \
        --vocabulary /opt/ml/processing/input/vocabulary/vocab.json --max-seq-len 20 \
        [--before /opt/ml/processing/input/before/products.parquet --before-snapshot S] \
        --output /opt/ml/processing/output --part-records 100000

Writes ``catalog_search.transform_input``'s folders; bad input is one line (exit 1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from catalog_search.transform_input import Inputs, prepare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=Path, required=True, help="the snapshot's products (parquet)")
    parser.add_argument("--vocabulary", type=Path, required=True, help="the model's vocab.json")
    parser.add_argument("--max-seq-len", type=int, required=True, help="the model's enc0_max_seq_len")
    parser.add_argument("--before", type=Path, help="the products of the earlier snapshot the vectors are carried from")
    parser.add_argument("--before-snapshot", help="that snapshot's id")
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--part-records", type=int, required=True, help="lines a transform input part")
    args = parser.parse_args()
    inputs = Inputs(args.products, args.vocabulary, args.max_seq_len, args.part_records, args.before, args.before_snapshot)
    try:
        summary = prepare(inputs, args.output)
    except (OSError, ValueError) as err:
        print(f"prepare_transform_input: {err}", file=sys.stderr)
        return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
