"""What a query says in the model's vocabulary: its known words, its typos mapped to the nearest
vocabulary word, and the words no vector exists for.

A query whose words are all unknown has no meaning the embedding space can express: it gets no
vector (k-NN returns nothing, hybrid modes fall back to keywords) instead of the unknown-token
vector, whose neighbours are arbitrary. A typo ("handbg", "sweter", "jeens") maps to the
vocabulary word within a small edit distance that shares most character trigrams with it,
preferring the more frequent word (lower id: the vocabulary is ranked by frequency, catalog
words before the general lexicon).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from catalog_search.training.tokenizer import PAD, UNK, tokenize

MIN_TYPO_LENGTH = 4  # shorter words have too many neighbours one edit away


@dataclass(frozen=True)
class QueryTerms:
    ids: list[int]  # token ids to embed (known and corrected words), in query order
    known: list[str]
    corrected: dict[str, str] = field(default_factory=dict)  # typo -> vocabulary word
    unknown: list[str] = field(default_factory=list)

    @property
    def embeddable(self) -> bool:
        return bool(self.ids)

    def describe(self) -> dict:
        return {"known": self.known, "corrected": self.corrected, "unknown": self.unknown}


class Speller:
    """Nearest vocabulary word of an unknown word, through a character-trigram index."""

    def __init__(self, vocab: dict[str, int]):
        self.vocab = vocab
        self._index: dict[str, list[str]] = defaultdict(list)
        for word in vocab:
            if word not in (PAD, UNK) and len(word) >= MIN_TYPO_LENGTH - 1 and word.isalpha():
                for gram in _trigrams(word):
                    self._index[gram].append(word)

    def correct(self, word: str) -> str | None:
        if len(word) < MIN_TYPO_LENGTH or not word.isalpha():
            return None
        grams = _trigrams(word)
        shared: dict[str, int] = defaultdict(int)
        for gram in grams:
            for candidate in self._index.get(gram, ()):
                shared[candidate] += 1
        budget = 1 if len(word) <= 5 else 2
        best = None
        for candidate, common in shared.items():
            if common * 3 < len(grams):  # a third of the word's trigrams must be there
                continue
            distance = _edit_distance(word, candidate, budget)
            if distance <= budget:
                key = (distance, self.vocab[candidate])
                if best is None or key < best[0]:
                    best = (key, candidate)
        return best[1] if best else None


def analyze(text: str, vocab: dict[str, int], speller: Speller, max_len: int) -> QueryTerms:
    known, corrected, unknown, ids = [], {}, [], []
    for token in tokenize(text):
        if token in vocab:
            known.append(token)
            ids.append(vocab[token])
        elif (fix := speller.correct(token)) is not None:
            corrected[token] = fix
            ids.append(vocab[fix])
        else:
            unknown.append(token)
    return QueryTerms(ids[:max_len], known, corrected, unknown)


class AttributeWords:
    """The words with which a query names an attribute value the catalog has (``navy blue``,
    ``men``): from the values its products take, so no query string is special. A word may end in
    an ``s`` the value lacks (``mens``, ``womens``); the longest value is taken first (``navy blue``
    is not also ``blue``). ``also`` maps a value to the values that meet it too (fashion: a Unisex
    product fits a query for Men, and one for Women)."""

    def __init__(self, values: dict[str, list[str]], also: dict[str, dict[str, set[str]]] | None = None):
        self.values = {name: sorted(((tuple(tokenize(v)), v) for v in found if tokenize(v)), key=lambda tv: -len(tv[0]))
                       for name, found in values.items()}
        self.also = also or {}

    def named(self, text: str) -> dict[str, list[str]]:
        """``attribute -> the values that meet what the query names``, for the attributes it names."""
        tokens = tokenize(text)
        free = [True] * len(tokens)
        found: dict[str, list[str]] = {}
        for name, values in self.values.items():
            for words, value in values:
                at = _phrase_at(tokens, free, words)
                if at is None:
                    continue
                for i in range(at, at + len(words)):
                    free[i] = False
                meeting = found.setdefault(name, [])
                for v in (value, *sorted(self.also.get(name, {}).get(value, ()))):
                    if v not in meeting:
                        meeting.append(v)
        return found


def _phrase_at(tokens: list[str], free: list[bool], words: tuple[str, ...]) -> int | None:
    for start in range(len(tokens) - len(words) + 1):
        if all(free[start + i] and tokens[start + i] in (w, w + "s") for i, w in enumerate(words)):
            return start
    return None


def _trigrams(word: str) -> set[str]:
    padded = f"^{word}$"
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _edit_distance(a: str, b: str, budget: int) -> int:
    """Damerau-Levenshtein (adjacent swaps count one), stopping early past the budget."""
    if abs(len(a) - len(b)) > budget:
        return budget + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = ca != cb
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > budget:
            return budget + 1
        previous2, previous = previous, current
    return previous[-1]


class QueryVectors:
    """``(model_version, text) -> (vector or None, QueryTerms)`` with each model's own encoder
    and vocabulary; ``encoders(model_version)`` loads an encoder (``encoder.ModelEncoders``)."""

    def __init__(self, encoders):
        self.encoders = encoders
        self._spellers: dict[str, Speller] = {}
        self._building = threading.Lock()  # one speller a model, however many searches ask at once

    @classmethod
    def from_store(cls, store, scratch_dir) -> QueryVectors:
        """With each model's encoder loaded from its model.tar.gz in the object store."""
        from catalog_search.training.encoder import ModelEncoders

        return cls(ModelEncoders(store, scratch_dir))

    @classmethod
    def for_clients(cls, clients) -> QueryVectors:
        """The encoder the settings choose: in this process, or the SageMaker endpoint (query_endpoint)."""
        settings = clients.settings
        if settings.query_encoder == "endpoint":
            from catalog_search.sagemaker.query_endpoint import EndpointEncoders

            return cls(EndpointEncoders(clients.store, clients.make_aws("sagemaker-runtime"), settings.query_endpoint))
        return cls.from_store(clients.store, settings.work_dir / "query-encoder")

    def __call__(self, model_version: str, text: str) -> tuple[list[float] | None, QueryTerms]:
        encoder = self.encoders(model_version)
        if model_version not in self._spellers:
            with self._building:
                if model_version not in self._spellers:
                    self._spellers[model_version] = Speller(encoder.vocab)
        terms = analyze(text, encoder.vocab, self._spellers[model_version], encoder.max_seq_len)
        if not terms.embeddable:
            return None, terms
        return encoder.embed_ids([terms.ids])[0].tolist(), terms
