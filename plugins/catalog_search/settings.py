"""Settings: every default of the project, once.

Everything is read from the environment (``CATALOG_SEARCH_*``) so that the same code runs
on AWS and on one machine; only the connections (``aws_default``, ``opensearch_default``)
say where the services are (``clients``). Object-store keys live in ``store.object_keys``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

from catalog_search.errors import BadInput

AWS_CONN_ID = "aws_default"
OPENSEARCH_CONN_ID = "opensearch_default"

# Asset URIs connect the DAGs (data-aware scheduling).
ASSET_CATALOG_SNAPSHOT = "s3://catalog-search/catalog/snapshot"
ASSET_EMBEDDING_MODEL = "s3://catalog-search/models/champion"
ASSET_ENRICHED_CATALOG = "s3://catalog-search/enrichment/enriched"
ASSET_LIVE_INDEX = "opensearch://catalog-search/products"

RUNNERS = ("local", "sagemaker")
KNN_ENGINES = ("lucene", "faiss", "nmslib")
ALLOCATIONS = ("proportional", "sqrt", "uniform")
MINILM = "minilm"  # word vectors built from the packaged all-MiniLM-L6-v2 (catalog_search.training.word_vectors)
SEARCH_MODES = ("keyword", "knn", "hybrid", "normalized", "rrf")
ENCODER_NETWORKS = ("pooled_embedding", "hcnn", "bilstm")  # Object2Vec's enc0_network values
QUERY_ENCODERS = ("in_process", "endpoint")
APPROVAL_MODES = ("auto", "manual")
REMOVALS = ("delete", "tombstone")  # what DynamoDB does with a product that left the catalog
# Object2Vec's documentation gives the encoder's output length as enc_dim, and pooled_embedding as
# the average of the token embeddings (enc0_token_embedding_dim long): the pipeline reads the
# length from the model's output; the local trainer can do either.
POOLED_OUTPUTS = ("enc_dim", "token_embedding_dim")


def _setting(default: Any, env: str | None = None, choices: tuple = (), help: str = "") -> Any:
    """A field of Settings: its one default, its variable (``CATALOG_SEARCH_{NAME}`` unless
    given) and the values it may take."""
    return field(default=default, metadata={"env": env, "choices": choices, "help": help})


@dataclass(frozen=True)
class Settings:
    """Pipeline configuration and every default of the project: the CLI, pair sampling, the
    trainer and the SageMaker requests take theirs from here. ``Settings.from_env()`` reads
    ``CATALOG_SEARCH_*``; ``Settings()`` is the defaults."""

    runner: str = _setting("local", choices=RUNNERS, help="run SageMaker jobs on SageMaker or locally")
    bucket: str = _setting("catalog-search-local", help="the bucket of every artifact (store/object_keys.py)")
    work_dir: Path = _setting(Path(".local/work"), help="local scratch space of tasks and jobs")
    source_dir: Path = _setting(Path("data/fashion"), help="the demo catalog in the repository")
    include_dir: Path = _setting(Path("include"), help="the project's include/ (sql/, jobs/)")
    table_name: str = _setting("catalog-search-products", env="CATALOG_SEARCH_TABLE", help="the DynamoDB table of enriched products")
    removed_products: str = _setting("delete", choices=REMOVALS,
                                     help="products gone from the snapshot: deleted from DynamoDB, or kept with removed_in")
    index_alias: str = _setting("products", help="the search alias; indices are named {alias}-{snapshot}-{hash}")
    knn_engine: str = _setting("lucene", choices=KNN_ENGINES, help="the k-NN engine (faiss works on Amazon OpenSearch, not on the local node)")
    index_replicas: int = _setting(1, help="replicas of the live index (0 on a single local node)")
    index_force_merge_segments: int = _setting(0, help="force-merge a new index to this many segments (0: off)")
    index_shards: int = _setting(0, help="primary shards of a new index (0: from the catalog's size, 10-30 GiB a shard; "
                                         "docs/scale.md)")
    index_retention: int = _setting(3, help="indices of the alias kept, the live one included")
    projector_sample: int = _setting(5000, help="products in each enrichment's Embedding Projector export (0: none)")
    # when the DAGs run (cron, UTC): the catalog lands, the nightly enrichment, weekly training
    refresh_schedule: str = _setting("0 1 * * *", help="catalog_refresh's cron")
    enrichment_schedule: str = _setting("0 2 * * *", help="catalog_enrichment's cron (it also runs on new snapshots and models)")
    training_schedule: str = _setting("0 3 * * 0", help="embedding_training's cron")
    filter_attributes: tuple[str, ...] = _setting(("gender", "colour", "season", "year", "usage"),
                                                  help="catalog attributes search may filter on")
    # search (tuned on the dev queries by benchmarks/tune_search.py; see the README)
    search_mode: str = _setting("normalized", choices=SEARCH_MODES, help="the mode of a search that names none")
    keyword_weight: float = _setting(1.0, help="keyword boost (hybrid) or weight (normalized, rrf)")
    # 2 and the attribute bonus 1: tune_search's choice for normalized on the dev sets (docs/search.md)
    knn_weight: float = _setting(2.0, help="k-NN boost (hybrid) or weight (normalized, rrf)")
    fusion_window: int = _setting(100, help="candidates each list brings to fusion, and k-NN's k")
    rrf_k: int = _setting(60, help="reciprocal rank fusion's rank constant")
    # where queries are embedded: in the search process (the local trainer's model.npz) or, on AWS,
    # on a SageMaker real-time endpoint that search_index_publish points at the live index's model
    query_encoder: str = _setting("in_process", choices=QUERY_ENCODERS, help="in_process or endpoint (SageMaker)")
    query_endpoint: str = _setting("catalog-search-query-encoder", help="the query encoder's SageMaker endpoint")
    endpoint_instance_type: str = _setting("ml.m5.large", help="instance type of the query encoder's endpoint")
    # the golden queries a new index must answer before it goes live
    golden_queries: str = _setting("data/fashion/queries_dev.tsv", help="TSV (local or s3://); empty: no gate")
    golden_qrels: str = _setting("data/fashion/qrels_dev.tsv", help="their judgments, for a query set without the rule's columns")
    dev_queries: tuple[str, ...] = _setting(("data/fashion/queries_dev.tsv", "data/fashion/queries_dev2.tsv"),
                                            help="the query sets `catalog-search evaluate` and the benchmarks score, each and together")
    min_golden_ndcg: float = _setting(0.5, help="absolute floor of the default mode's nDCG@10")
    golden_also_modes: tuple[str, ...] = _setting(("keyword",), choices=SEARCH_MODES,
                                                  help="modes the gate also compares with the live index (the floor is the "
                                                       "default mode's): keyword alone, which titles gone wrong cannot hide in")
    golden_ndcg_tolerance: float = _setting(0.02, help="a mean drop in nDCG@10 against the live index up to this is never refused")
    golden_confidence: float = _setting(0.95, help="a larger drop is refused when this one-sided paired bootstrap "
                                                   "bound over the queries says it is not noise")
    # how a catalog maps onto the rule columns of a query set (evaluation.JudgingRule): the first
    # decides relevance, the others grade 2; a query set without these columns is judged by its qrels
    judging_fields: tuple[str, ...] = _setting(("article_types=category.leaf", "gender=gender", "colours=colour", "usage=usage"),
                                               help="query_column=catalog_field: category, category.leaf, category.N, "
                                                    "a canonical column or an attribute")
    # the attributes a query may name a value of ("men navy blue shirt"): products with that value
    # get a bonus in the fused modes (search.query); keyword and k-NN alone stay as they are
    query_attributes: tuple[str, ...] = _setting(("gender", "colour"), help="attributes whose values a query may name "
                                                 "(men, navy blue): products with the value rank higher in the fused modes")
    query_attributes_also: tuple[str, ...] = _setting(("gender:Unisex=Men|Women",),
                                                      help="attribute:product_value=named|named: a value that fits those named too")
    attribute_weight: float = _setting(1.0, help="the fused modes' bonus for a product with every named attribute value, "
                                       "a share of the top fused score (0: none)")
    judging_also_meets: tuple[str, ...] = _setting(("gender:Unisex=Men|Women",),
                                                   help="column:product_value=wanted|wanted: a value that meets others too")
    # pair sampling
    pairs: int = _setting(60_000, help="training pairs sampled per run")
    positive_share: float = _setting(0.5, help="share of pairs from one category")
    hard_negative_share: float = _setting(0.2, help="share of negatives from sibling categories")
    allocation: str = _setting("sqrt", choices=ALLOCATIONS, help="how positives are spread over categories by their size")
    min_per_category: int = _setting(5, help="floor of positives of a category that can give them")
    category_level: int | None = _setting(None, help="path level that defines 'same category' (empty: full path)")
    pair_seed: int = _setting(13, help="the sampler's seed")
    validation_share: float = _setting(0.1, help="share of products in the validation split")
    test_share: float = _setting(0.1, help="share of products in the test split")
    # Object2Vec inputs and hyperparameters
    max_seq_len: int = _setting(16, help="enc0_max_seq_len: tokens of a title the encoder reads")
    vocab_min_count: int = _setting(2, help="training products a word must appear in")
    vocab_max_size: int = _setting(50_000, help="the vocabulary's size at most")
    pretrained_embeddings: str = _setting(MINILM, help=f"word vectors: a GloVe-format file (path or s3://), "
                                          f"{MINILM!r} (built from the packaged all-MiniLM-L6-v2) or empty (none)")
    embedding_dim: int = _setting(384, help="enc_dim: the embedding's size (384: the MiniLM vectors' length, so that "
                                   "both readings of pooled_embedding's output agree; docs/search.md)")
    mlp_dim: int = _setting(128, help="mlp_dim of the comparator")
    epochs: int = _setting(4, help="epochs")
    mini_batch_size: int = _setting(256, help="mini_batch_size")
    learning_rate: float = _setting(0.0005, help="learning_rate (adam)")
    dropout: float = _setting(0.0, help="dropout")
    encoder_network: str = _setting("pooled_embedding", choices=ENCODER_NETWORKS, help="enc0_network")
    cnn_filter_width: int = _setting(3, help="enc0_cnn_filter_width (hcnn)")
    encoder_layers: int = _setting(1, help="enc0_layers (hcnn, bilstm)")
    freeze_pretrained_embedding: bool = _setting(False, help="enc0_freeze_pretrained_embedding")
    local_pooled_output: str = _setting("token_embedding_dim", choices=POOLED_OUTPUTS,
                                        help="the local trainer's pooled_embedding: the mean of the token vectors "
                                             "projected to enc_dim, or the mean alone (enc0_token_embedding_dim long)")
    # checks and gates
    row_tolerance: float = _setting(0.1, help="a snapshot's size may move this share from the previous one")
    min_test_accuracy: float = _setting(0.75, help="test:accuracy on the frozen evaluation set a model must reach")
    max_test_cross_entropy: float = _setting(0.5, help="test:cross_entropy it may not exceed (a coin flip scores 0.69)")
    champion_tolerance: float = _setting(0.02, help="how far below the champion's test:accuracy a model may be")
    champion_cross_entropy_tolerance: float = _setting(0.05, help="how far above the champion's test:cross_entropy")
    min_embedding_purity: float = _setting(0.5, help="leaf-category purity@10 of neighbours over a product sample")
    purity_sample: int = _setting(2000, help="products embedded for the purity check")
    # AWS
    sagemaker_role_arn: str = _setting("", help="the SageMaker execution role (required by the sagemaker runner)")
    alert_topic_arn: str = _setting("", help="SNS topic for failure alerts (empty: they go to the task log)")
    processing_image: str = _setting("", help="the Processing jobs' image: docker/processing.Dockerfile pushed to ECR "
                                              "(make processing-image-push); needed by the sagemaker runner")
    processing_instance_type: str = _setting("ml.m5.xlarge", help="instance type of the Processing jobs")
    processing_max_runtime: int = _setting(2 * 3600, help="MaxRuntimeInSeconds of a Processing job (its task waits as long)")
    training_instance_type: str = _setting("ml.m5.2xlarge", help="instance type of the Object2Vec training job")
    training_max_runtime: int = _setting(4 * 3600, help="MaxRuntimeInSeconds of the training job (its task waits as long)")
    # the catalog's Batch Transform: its input parts are spread over the instances
    transform_instance_type: str = _setting("ml.m5.xlarge", help="instance type of the catalog's Batch Transform")
    transform_instance_count: int = _setting(1, help="instances of the catalog's Batch Transform")
    transform_max_runtime: int = _setting(6 * 3600, help="how long a task waits for a Batch Transform job (the request "
                                                         "has no limit of its own)")
    model_approval: str = _setting("auto", choices=APPROVAL_MODES,
                                   help="auto: a passed gate promotes; manual: promotion waits for approval in the Model Registry")
    model_package_group: str = _setting("catalog-search-products", help="the Model Registry group of this catalog's models")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Each field from its variable, converted to the field's type and checked; a bad value
        raises ``BadInput`` naming the variable, the value and what it should be."""
        environ = os.environ if environ is None else environ
        types = get_type_hints(cls)
        values = {}
        for f in fields(cls):
            name = env_name(f)
            if name in environ:
                values[f.name] = _convert(name, environ[name], types[f.name], f.metadata["choices"])
            elif isinstance(f.default, Path):
                values[f.name] = f.default.resolve()  # relative defaults mean the project root
        return cls(**values)


def also_meets(items: tuple[str, ...], setting: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """``column:value=wanted|wanted`` items (``JUDGING_ALSO_MEETS``, ``QUERY_ATTRIBUTES_ALSO``) as
    (column, value, wanted values): a product's value that meets the wanted values too."""
    parsed = []
    for item in items:
        head, sep, wanted = item.partition("=")
        column, colon, value = head.partition(":")
        wanted_values = tuple(w.strip() for w in wanted.split("|") if w.strip())
        if not (sep and colon and column.strip() and value.strip() and wanted_values):
            raise BadInput(f"{setting} {item!r}: expected column:value=wanted|wanted, e.g. gender:Unisex=Men|Women")
        parsed.append((column.strip(), value.strip(), wanted_values))
    return parsed


def env_name(f: Field) -> str:
    return f.metadata["env"] or f"CATALOG_SEARCH_{f.name.upper()}"


def reference() -> str:
    """docs/settings.md: every field as its variable, type, default and help (``make docs`` writes it;
    a test fails when the file is stale)."""
    types = get_type_hints(Settings)
    kinds: dict[Any, str] = {**_KIND_NAMES, Path: "a path", int | None: "a whole number or empty", tuple[str, ...]: "a comma-separated list"}
    rows = ["| variable | type | default | what |", "|---|---|---|---|"]
    for f in fields(Settings):
        choices = " (" + " \\| ".join(f.metadata["choices"]) + ")" if f.metadata["choices"] else ""
        default = ",".join(f.default) if isinstance(f.default, tuple) else ("" if f.default is None else str(f.default))
        shown = f"`{default}`" if default else "(empty)"
        rows.append(f"| `{env_name(f)}` | {kinds[types[f.name]]}{choices} | {shown} | {f.metadata['help']} |")
    return "\n".join([
        "# Settings", "",
        "Every setting of the pipeline, with its one default (`plugins/catalog_search/settings.py`). Each is read from its",
        "variable, converted to its type and checked: a bad value stops with one line naming the variable, the value and",
        "what it should be. The region is not a setting: it is the `aws_default` connection's. Written by `make docs`",
        "from the `Settings` fields; `tests/unit/test_settings.py` fails when this page is stale.", "",
        *rows, ""])


def _convert(name: str, raw: str, kind: Any, choices: tuple) -> Any:
    raw = raw.strip()
    optional = type(None) in get_args(kind)
    if optional:
        kind = next(a for a in get_args(kind) if a is not type(None))
        if raw in ("", "0", "none"):
            return None
    try:
        if kind is Path:
            value: Any = Path(raw).resolve()
        elif get_origin(kind) is tuple:
            value = tuple(part.strip() for part in raw.split(",") if part.strip())
        elif kind is bool:
            value = _BOOLEANS[raw.lower()]
        else:
            value = kind(raw)
    except (ValueError, KeyError):
        raise BadInput(f"{name}={raw!r}: expected {_KIND_NAMES.get(kind, kind.__name__)}") from None
    if choices and any(v not in choices for v in (value if isinstance(value, tuple) else (value,))):  # a list: each of its values
        raise BadInput(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return value


_KIND_NAMES = {int: "a whole number", float: "a number", str: "text", bool: "true or false (or yes/no, 1/0)"}
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
