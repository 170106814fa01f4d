"""A snapshot's Batch Transform input, written from local files: the work of the
``prepare_transform_input`` Processing job (``include/jobs/prepare_transform_input.py``), so that
no Airflow worker tokenizes a catalog.

With an earlier snapshot enriched by the same model, only products whose encoder input changed
(new, or retitled: their token ids differ) are embedded; the others' vectors are carried over
(``carried/``), plus a few of them embedded again as canaries that ``assembly`` compares. With
none, every product is embedded.

Folders under the output root, one a job output each (``OUTPUTS``): ``input/`` the Object2Vec
inference JSON Lines in parts of ``part_records`` (SageMaker spreads them over the transform's
instances), ``order/`` the product ids in the order of their lines and the summary
(``SUMMARY_FILE``: counts), ``carried/`` the carried-over products."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from catalog_search.store import object_store
from catalog_search.store.changes import is_in
from catalog_search.training import tokenizer

log = logging.getLogger(__name__)

OUTPUTS = ("input", "order", "carried")  # folders of the output root, each uploaded to its own prefix
PART_FILE = "products-{part:04d}.jsonl"  # as ObjectKeys.transform_input_file names them
ORDER_FILE = "product_ids.parquet"  # in order/, as ObjectKeys.transform_order
CARRIED_FILE = "product_ids.parquet"  # in carried/, as ObjectKeys.carried_over
SUMMARY_FILE = "summary.json"  # in order/
CANARIES = 20  # carried-over products embedded again: their fresh vectors must equal the carried ones


@dataclass(frozen=True)
class Inputs:
    """What the job reads, as local paths (the Processing job's channels)."""
    products: Path  # the snapshot's products
    vocabulary: Path  # the model's vocab.json (its training data's auxiliary channel)
    max_seq_len: int  # the model's enc0_max_seq_len
    part_records: int  # lines a transform input part
    before: Path | None = None  # the products of the newest earlier snapshot enriched with the model
    before_snapshot: str | None = None  # that snapshot


def prepare(inputs: Inputs, output: Path) -> dict:
    """Write the transform input, its order and the carried-over products under ``output``;
    returns the summary (also written)."""
    if (inputs.before is None) != (inputs.before_snapshot is None):
        raise ValueError("--before and --before-snapshot go together")
    vocab = json.loads(inputs.vocabulary.read_text())
    if tokenizer.UNK not in vocab:
        raise ValueError(f"{inputs.vocabulary}: not a model vocabulary (no {tokenizer.UNK!r} token)")

    def encode(titles: pd.Series) -> list[tuple[int, ...]]:
        return [tuple(tokenizer.encode(t, vocab, inputs.max_seq_len)) for t in titles]

    products = _products(inputs.products)
    carried = _carried_over(products, inputs, encode)
    embed = ~is_in(products["product_id"], carried["product_id"])
    canaries = carried["product_id"].sample(min(CANARIES, len(carried)), random_state=0)
    embed |= is_in(products["product_id"], canaries)
    for name in OUTPUTS:  # a retry may write fewer parts
        shutil.rmtree(output / name, ignore_errors=True)
        (output / name).mkdir(parents=True)
    titles = products.loc[embed, "title"]
    starts = range(0, max(len(titles), 1), inputs.part_records)  # one part at least: a transform needs an input
    for part, start in enumerate(starts):
        tokenizer.write_inference_jsonl((list(ids) for ids in encode(titles.iloc[start: start + inputs.part_records])),
                                        output / "input" / PART_FILE.format(part=part))
    object_store.write_parquet(output / "order" / ORDER_FILE, products.loc[embed, ["product_id"]])
    object_store.write_parquet(output / "carried" / CARRIED_FILE, carried)
    summary = {"products": len(products), "embedded": int(embed.sum()), "carried_over": len(carried),
               "canaries": len(canaries), "parts": len(starts), "before_snapshot": inputs.before_snapshot}
    (output / "order" / SUMMARY_FILE).write_text(json.dumps(summary, indent=1, sort_keys=True))
    return summary


def _products(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    products = pq.read_table(path, columns=["product_id", "title"]).to_pandas()
    return products.assign(product_id=products["product_id"].astype(str))


def _carried_over(products: pd.DataFrame, inputs: Inputs, encode) -> pd.DataFrame:
    """``product_id, from_snapshot`` of the products whose token ids are the same as in the
    earlier snapshot (none without one): their vectors are taken from that snapshot's enriched
    catalog when the catalog is assembled, so the vectors are read once, not copied here. Only
    titles that differ are tokenized: an equal title has equal token ids."""
    if inputs.before is None:
        return pd.DataFrame({"product_id": pd.Series(dtype=str), "from_snapshot": pd.Series(dtype=str)})
    both = products.merge(_products(inputs.before), on="product_id", suffixes=("", "_before"))
    retitled = both["title"] != both["title_before"]
    same_ids = np.ones(len(both), dtype=bool)
    same_ids[retitled.to_numpy()] = [a == b for a, b in zip(encode(both.loc[retitled, "title"]), encode(both.loc[retitled, "title_before"]))]
    carried = both.loc[same_ids, ["product_id"]].assign(from_snapshot=inputs.before_snapshot).reset_index(drop=True)
    log.info("carrying over %d embeddings from snapshot %s (%d retitled, %d of them with the same token ids)",
             len(carried), inputs.before_snapshot, int(retitled.sum()), int((same_ids & retitled).sum()))
    return carried
