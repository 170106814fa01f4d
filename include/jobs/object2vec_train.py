"""Object2Vec training entry point, run with SageMaker's folder layout under --ml-root
(``/opt/ml`` in a container): input/config/hyperparameters.json, input/data/{channel}/,
model/ for the artifacts, output/failure on error. Metrics go to stdout as ``#metric k=v``."""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from pathlib import Path

from catalog_search.settings import POOLED_OUTPUTS
from catalog_search.training.object2vec_trainer import train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ml-root", type=Path, default=Path("/opt/ml"))
    parser.add_argument("--pooled-output", choices=POOLED_OUTPUTS, default=POOLED_OUTPUTS[0],
                        help="pooled_embedding's output: projected to enc_dim, or the mean of the token vectors")
    args = parser.parse_args()
    ml = args.ml_root
    try:
        params = json.loads((ml / "input/config/hyperparameters.json").read_text())
        channels = {p.name: p for p in sorted((ml / "input/data").iterdir()) if p.is_dir()}
        metrics = train(channels, params, ml / "model", pooled_output=args.pooled_output)
    except Exception as err:
        (ml / "output").mkdir(parents=True, exist_ok=True)
        (ml / "output/failure").write_text(f"{type(err).__name__}: {err}")
        traceback.print_exc()
        return 1
    for name, value in metrics.items():
        print(f"#metric {name}={value:.6f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
