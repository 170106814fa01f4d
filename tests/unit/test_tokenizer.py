import json

from catalog_search.training.tokenizer import PAD, UNK, build_vocab, encode, tokenize, write_inference_jsonl, write_pairs_jsonl


def test_tokenize_normalises_case_unicode_and_punctuation():
    assert tokenize("Nike Women's EM Tempo 3.5\" Pink Short") == ["nike", "women", "s", "em", "tempo", "3", "5", "pink", "short"]
    assert tokenize("ＣＡＦÉ") == ["café"]  # NFKC folds full-width letters
    assert tokenize(None) == [] and tokenize("") == []


def test_vocab_is_frequency_ranked_with_reserved_ids_and_limits():
    vocab = build_vocab(["red shirt", "red jeans", "blue shirt", "rare"], min_count=2, max_size=4)
    assert vocab[PAD] == 0 and vocab[UNK] == 1
    assert list(vocab) == [PAD, UNK, "red", "shirt"]


def test_encode_truncates_and_maps_unknown_words():
    vocab = build_vocab(["red shirt"])
    assert encode("red shirt red shirt", vocab, max_seq_len=3) == [vocab["red"], vocab["shirt"], vocab["red"]]
    assert encode("green", vocab, 4) == [vocab[UNK]]
    assert encode("", vocab, 4) == [vocab[UNK]]


def test_jsonl_records_have_object2vec_shape(tmp_path):
    write_pairs_jsonl([[2, 3]], [[4]], [1], tmp_path / "p.jsonl")
    assert json.loads((tmp_path / "p.jsonl").read_text()) == {"label": 1, "in0": [2, 3], "in1": [4]}
    write_inference_jsonl([[5, 6]], tmp_path / "i.jsonl")
    assert json.loads((tmp_path / "i.jsonl").read_text()) == {"in0": [5, 6]}
