"""Object2Vec's enc0 networks (pooled_embedding, hcnn, bilstm): the trainer's torch modules and
the numpy encoders that serve them give the same vectors, padding never changes a vector,
frozen pretrained token vectors stay put, and each network learns an easy task."""

import io
import json
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch

from catalog_search.errors import BadInput
from catalog_search.sagemaker.job_requests import object2vec_hyperparameters
from catalog_search.settings import ENCODER_NETWORKS, Settings
from catalog_search.training import object2vec_trainer as trainer
from catalog_search.training.encoder import Encoder, ModelEncoders
from catalog_search.training.tokenizer import build_vocab, encode, write_pairs_jsonl, write_vocab

# (network, enc0_layers): each network, and the stacked variants of the two that have layers
VARIANTS = [("pooled_embedding", 1), ("hcnn", 1), ("hcnn", 2), ("bilstm", 1), ("bilstm", 2)]
SEQUENCES = [[5], [7, 3], [2, 9, 4], [1, 8, 6, 3, 2], [4, 4, 9, 2, 7, 3, 5, 8], [6], [3, 2, 1, 9]]
TITLES = {
    "shirt": ["navy blue shirt", "white formal shirt", "check casual shirt", "blue slim shirt", "red party shirt"],
    "watch": ["silver analog watch", "black digital watch", "gold dial watch", "steel chrono watch", "leather strap watch"],
}


def _params(network: str, layers: int = 1, **extra) -> dict:
    """Parsed the way the training job parses SageMaker's string hyperparameters."""
    settings = Settings(encoder_network=network, encoder_layers=layers, embedding_dim=8, max_seq_len=8)
    raw = object2vec_hyperparameters(settings, vocab_size=12)
    return trainer.hyperparameters({**raw, **{k: str(v) for k, v in extra.items()}})


def _exported(tmp_path: Path, network: str, layers: int, **extra):
    """A randomly initialised torch encoder and the numpy encoder read from its export."""
    torch.manual_seed(3)
    params = _params(network, layers, **extra)
    module = trainer.build_encoder(params, vocab_size=12).eval()
    with torch.no_grad():  # non-zero biases, so that a bias in the wrong place shows
        for name, weight in module.named_parameters():
            if "bias" in name:
                weight.uniform_(-0.5, 0.5)
    trainer.export(module, params, {"<pad>": 0, "<unk>": 1}, tmp_path)
    return module, Encoder.from_dir(tmp_path)


def _torch_vectors(module, sequences, width: int) -> np.ndarray:
    ids = torch.zeros(len(sequences), width, dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq)
    with torch.no_grad():
        return module(ids).numpy()


@pytest.mark.parametrize("network, layers", VARIANTS)
def test_numpy_encoder_gives_the_torch_modules_vectors(tmp_path, network, layers):
    module, encoder = _exported(tmp_path, network, layers)
    assert encoder.network == network and encoder.dim == 8
    expected = _torch_vectors(module, SEQUENCES, width=8)
    vectors = encoder.embed_ids(SEQUENCES)
    assert vectors.dtype == np.float32 and vectors.shape == (len(SEQUENCES), 8)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert np.abs(vectors).max() > 1e-3  # not trivially zero


@pytest.mark.parametrize("network, layers", VARIANTS)
def test_padding_never_changes_a_vector(tmp_path, network, layers):
    module, encoder = _exported(tmp_path, network, layers, enc0_max_seq_len=16)
    alone = np.concatenate([_torch_vectors(module, [seq], width=len(seq)) for seq in SEQUENCES])
    np.testing.assert_allclose(_torch_vectors(module, SEQUENCES, width=16), alone, atol=1e-5)
    # numpy: a title's vector is the same alone as in a batch padded to a longer title
    for seq in SEQUENCES:
        np.testing.assert_allclose(encoder.embed_ids([seq])[0], encoder.embed_ids([seq, list(range(1, 12))])[0], atol=1e-6)
        np.testing.assert_allclose(encoder.embed_ids([seq])[0], alone[SEQUENCES.index(seq)], atol=1e-5)


def test_the_cnn_reads_a_title_shorter_than_its_filter(tmp_path):
    module, encoder = _exported(tmp_path, "hcnn", 1, enc0_cnn_filter_width=5)
    short = [[4], [4, 9]]
    np.testing.assert_allclose(encoder.embed_ids(short), _torch_vectors(module, short, width=2), atol=1e-5)
    assert not np.allclose(encoder.embed_ids(short)[0], encoder.embed_ids(short)[1])


def test_the_bilstm_vector_is_the_last_forward_and_first_backward_state(tmp_path):
    module, encoder = _exported(tmp_path, "bilstm", 1)
    ids = torch.tensor([[2, 9, 4]])
    with torch.no_grad():
        outputs, _ = module.lstm(module.tokens(ids))
    np.testing.assert_allclose(encoder.embed_ids([[2, 9, 4]])[0], torch.cat([outputs[0, -1, :4], outputs[0, 0, 4:]]).numpy(), atol=1e-5)


def _channels(tmp_path: Path, pretrained: dict[str, list[float]] | None = None) -> dict[str, Path]:
    """Two well-separated groups of titles; pairs labelled same group or not."""
    groups = list(TITLES.values())
    vocab = build_vocab(t for g in groups for t in g)
    rng = np.random.default_rng(0)
    for split, n in (("train", 400), ("validation", 100)):
        left, right, labels = [], [], []
        for _ in range(n):
            same, g0 = rng.random() < 0.5, rng.integers(2)
            g1 = g0 if same else 1 - g0
            left.append(encode(groups[g0][rng.integers(5)], vocab, 8))
            right.append(encode(groups[g1][rng.integers(5)], vocab, 8))
            labels.append(int(same))
        write_pairs_jsonl(left, right, labels, tmp_path / split / "pairs.jsonl")
    write_vocab(vocab, tmp_path / "auxiliary" / "vocab.json")
    if pretrained:
        lines = [f"{w} " + " ".join(map(str, v)) for w, v in pretrained.items()]
        (tmp_path / "auxiliary" / "embeddings.txt").write_text("\n".join(lines) + "\n")
    return {name: tmp_path / name for name in ("train", "validation", "auxiliary")}


@pytest.mark.parametrize("network", ENCODER_NETWORKS)
def test_each_network_learns_two_well_separated_groups(tmp_path, network):
    settings = Settings(encoder_network=network, embedding_dim=16, max_seq_len=8, epochs=4, mini_batch_size=32)
    hyper = object2vec_hyperparameters(settings, vocab_size=0)
    metrics = trainer.train(_channels(tmp_path), hyper, tmp_path / "model", log=lambda _: None)
    assert metrics["validation:accuracy"] > 0.9, metrics
    meta = json.loads((tmp_path / "model" / "model-meta.json").read_text())
    assert meta["encoder"] == network and meta["metrics"] == metrics
    assert type(Encoder.from_dir(tmp_path / "model")).network == network


def _with_pretrained_file(settings: Settings) -> dict[str, str]:
    return {**object2vec_hyperparameters(settings, 0), "enc0_pretrained_embedding_file": "embeddings.txt"}


@pytest.mark.parametrize("freeze, changed", [(True, False), (False, True)])
def test_pretrained_token_vectors_stay_put_only_when_frozen(tmp_path, freeze, changed):
    rng = np.random.default_rng(1)
    pretrained = {w: rng.normal(size=8).round(4).tolist() for w in ("shirt", "watch", "blue", "gold")}
    channels = _channels(tmp_path, pretrained)
    settings = Settings(encoder_network="hcnn", embedding_dim=8, max_seq_len=8, epochs=1, freeze_pretrained_embedding=freeze)
    trainer.train(channels, _with_pretrained_file(settings), tmp_path / "model", log=lambda _: None)
    vocab = json.loads((channels["auxiliary"] / "vocab.json").read_text())
    trained = np.load(tmp_path / "model" / "model.npz")["token_embedding"]
    moved = [not np.allclose(trained[vocab[w]], v, atol=1e-6) for w, v in pretrained.items()]
    assert all(moved) if changed else not any(moved)


def test_a_pretrained_file_of_another_dimension_is_refused(tmp_path):
    channels = _channels(tmp_path, {"shirt": [0.1, 0.2, 0.3]})
    hyper = _with_pretrained_file(Settings(embedding_dim=8, epochs=1))
    with pytest.raises(ValueError, match=r"embeddings.txt has \[3\]-dimensional vectors; enc0_token_embedding_dim is 8"):
        trainer.train(channels, hyper, tmp_path / "model", log=lambda _: None)


def test_settings_become_object2vec_hyperparameters_as_sagemaker_wants_them():
    settings = Settings.from_env({"CATALOG_SEARCH_ENCODER_NETWORK": "bilstm", "CATALOG_SEARCH_ENCODER_LAYERS": "2",
                                  "CATALOG_SEARCH_CNN_FILTER_WIDTH": "5", "CATALOG_SEARCH_FREEZE_PRETRAINED_EMBEDDING": "Yes"})
    hyper = object2vec_hyperparameters(settings, 100)
    assert {k: hyper[k] for k in ("enc0_network", "enc0_layers", "enc0_cnn_filter_width", "enc0_freeze_pretrained_embedding")} == {
        "enc0_network": "bilstm", "enc0_layers": "2", "enc0_cnn_filter_width": "5", "enc0_freeze_pretrained_embedding": "true"}
    assert object2vec_hyperparameters(Settings(), 100)["enc0_freeze_pretrained_embedding"] == "false"  # the default fine-tunes
    assert trainer.hyperparameters({**hyper, "enc0_layers": "auto"})["enc0_layers"] == 1  # Object2Vec's auto for bilstm
    with pytest.raises(BadInput, match="CATALOG_SEARCH_FREEZE_PRETRAINED_EMBEDDING='maybe': expected true or false"):
        Settings.from_env({"CATALOG_SEARCH_FREEZE_PRETRAINED_EMBEDDING": "maybe"})
    with pytest.raises(BadInput, match="expected one of pooled_embedding, hcnn, bilstm"):
        Settings.from_env({"CATALOG_SEARCH_ENCODER_NETWORK": "transformer"})
    with pytest.raises(ValueError, match="enc0_network"):
        trainer.hyperparameters({"enc0_network": "cnn"})


def _model_tarball(tmp_path: Path) -> bytes:
    _exported(tmp_path / "model", "pooled_embedding", 1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for file in sorted((tmp_path / "model").iterdir()):
            tar.add(file, arcname=file.name)
    return buffer.getvalue()


def test_searches_arriving_together_load_a_model_once(tmp_path):
    """A server's first searches (or the first after a swap to a new model) arrive together: one
    downloads and extracts the model while the others wait for it, and none reads a half-written
    file."""
    tarball = _model_tarball(tmp_path)
    downloads = []

    class SlowStore:
        def get_bytes(self, key):
            downloads.append(key)
            time.sleep(0.2)  # long enough that every thread asks while the first is loading
            return tarball

    encoders = ModelEncoders(SlowStore(), tmp_path / "scratch")
    start = threading.Barrier(8)

    def first_search(_):
        start.wait()
        return encoders("v1")

    with ThreadPoolExecutor(8) as pool:
        loaded = list(pool.map(first_search, range(8)))
    assert len(downloads) == 1 and all(e is loaded[0] for e in loaded)
    assert loaded[0].embed_texts(["a b"]).shape == (1, 8)


def test_processes_loading_one_model_never_share_its_files(tmp_path):
    """Two loads of one model into the same scratch directory (two API processes, say) each
    extract it into a directory of their own, removed once loaded."""
    tarball, scratch = _model_tarball(tmp_path), tmp_path / "scratch"
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(lambda _: Encoder.from_tarball(tarball, scratch), range(16)))
    assert all(np.array_equal(e.embed_texts(["a b"]), loaded[0].embed_texts(["a b"])) for e in loaded)
    assert list(scratch.iterdir()) == []
