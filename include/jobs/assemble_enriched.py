"""SageMaker Processing entry point: a snapshot's transform output in, its enriched catalog out.

    assemble_enriched.py --products /opt/ml/processing/input/products/products.parquet \
        --order /opt/ml/processing/input/order/product_ids.parquet \
        --transform-output /opt/ml/processing/input/transform_output \
        --carried /opt/ml/processing/input/carried/product_ids.parquet \
        [--before /opt/ml/processing/input/before/products.parquet] \
        --output /opt/ml/processing/output --where s3://… [--model-dim 256] [--projector-sample 5000]

Writes ``catalog_search.assembly``'s files; a failed check is written in the summary (exit 0),
bad input is one line (exit 1)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from catalog_search.assembly import Inputs, assemble


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=Path, required=True, help="the snapshot's products (parquet)")
    parser.add_argument("--order", type=Path, required=True, help="the transform input's product ids, in order (parquet)")
    parser.add_argument("--transform-output", type=Path, required=True, help="the folder of the transform's .out files")
    parser.add_argument("--carried", type=Path, required=True, help="product_id, from_snapshot of the carried-over products")
    parser.add_argument("--before", type=Path, help="the enriched catalog the carried-over vectors come from")
    parser.add_argument("--output", type=Path, default=Path("/opt/ml/processing/output"))
    parser.add_argument("--where", required=True, help="the transform output's URI, named in the report")
    parser.add_argument("--model-dim", type=int, default=0, help="the model's vector length (0: its first output line's)")
    parser.add_argument("--projector-sample", type=int, default=0, help="products in the Embedding Projector sample")
    args = parser.parse_args()
    inputs = Inputs(args.products, args.order, args.transform_output, args.carried, args.before, args.where,
                    args.model_dim or None, args.projector_sample)
    try:
        summary = assemble(inputs, args.output)
    except (OSError, ValueError) as err:
        print(f"assemble_enriched: {err}", file=sys.stderr)
        return 1
    print(json.dumps({k: v for k, v in summary.items() if k != "validation"} | {"checks_passed": summary["validation"]["success"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
