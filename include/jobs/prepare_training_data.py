"""SageMaker Processing entry point: catalog snapshot in, Object2Vec training inputs out.

    prepare_training_data.py --input /opt/ml/processing/input/catalog \
        --output /opt/ml/processing/output --where s3://… --spec pairs.pairs=1000000 --spec max_seq_len=16 \
        [--pretrained /opt/ml/processing/input/pretrained/glove.txt] \
        [--evaluation /opt/ml/processing/input/evaluation/pairs.parquet]

``training_data.prepare`` writes the training inputs (as ``catalog-search prepare`` does in
process), then ``training_data.check`` runs the pairs suite on them; a failed suite is written in
its report (exit 0) for the task to raise, bad input is one line (exit 1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from catalog_search.training.catalog import CatalogError, read_catalog
from catalog_search.training.training_data import TrainingDataSpec, check, prepare


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, default=Path("/opt/ml/processing/input/catalog"))
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--spec", action="append", default=[], metavar="NAME=JSON",
                        help="a TrainingDataSpec field (pairs.seed=13), repeatable; fields not given keep their defaults")
    parser.add_argument("--pretrained", type=Path, help="GloVe-format text file to trim to the vocabulary")
    parser.add_argument("--evaluation", type=Path, help="the frozen evaluation set (parquet) to use as the test channel")
    parser.add_argument("--where", required=True, help="the output's URI, named in the pairs suite's report")
    args = parser.parse_args()
    try:
        catalog = read_catalog(args.input)
        evaluation = pd.read_parquet(args.evaluation) if args.evaluation else None
        spec = TrainingDataSpec.from_arguments(args.spec)
        report = prepare(catalog, spec, args.output, args.pretrained, evaluation)
        checks = check(catalog, spec, args.output, args.where)
    except (CatalogError, ValueError) as err:
        print(f"prepare_training_data: {err}", file=sys.stderr)
        return 1
    print(json.dumps({k: report[k] for k in ("pairs", "positive_share", "hard_negative_share", "vocab_size")}
                     | {"checks_passed": checks["validation"]["success"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
