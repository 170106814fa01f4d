"""The Processing jobs' code input: the job entry points of ``include/jobs/`` beside the
``catalog_search`` package and the SQL of ``include/sql/`` (under ``sql/``), under a prefix named
by a hash of their contents, so that a job runs exactly the library its request was made with and
the image changes only when the locks do."""

from __future__ import annotations

import hashlib
from pathlib import Path

import catalog_search
from catalog_search.naming import short_hash
from catalog_search.store.object_keys import ObjectKeys
from catalog_search.store.object_store import ObjectStore

PREPARE_ENTRY_POINT = "prepare_training_data.py"  # of include/jobs/
WORD_VECTORS_ENTRY_POINT = "build_word_vectors.py"
TRANSFORM_INPUT_ENTRY_POINT = "prepare_transform_input.py"
ASSEMBLE_ENTRY_POINT = "assemble_enriched.py"
CHECK_SNAPSHOT_ENTRY_POINT = "check_snapshot.py"
ENTRY_POINTS = (PREPARE_ENTRY_POINT, WORD_VECTORS_ENTRY_POINT, TRANSFORM_INPUT_ENTRY_POINT, ASSEMBLE_ENTRY_POINT,
                CHECK_SNAPSHOT_ENTRY_POINT)


def processing_code(settings) -> tuple[str, dict[str, Path]]:
    """The code input's prefix and its files ({name under the prefix: local path})."""
    package = Path(catalog_search.__file__).parent
    files = {path.name: path for path in sorted((settings.include_dir / "jobs").glob("*.py"))}
    files.update({f"sql/{path.name}": path for path in sorted((settings.include_dir / "sql").glob("*.sql"))})
    files.update({f"catalog_search/{path.relative_to(package).as_posix()}": path
                  for path in sorted(package.rglob("*.py")) if "__pycache__" not in path.parts})
    return ObjectKeys.processing_code(short_hash(*(f"{name}:{hashlib.sha256(path.read_bytes()).hexdigest()}"
                                               for name, path in files.items()))), files


def uploaded_code(settings, store: ObjectStore) -> str:
    """``processing_code`` in the store, uploaded once per version of the code (entry points last:
    a prefix that has them has everything)."""
    prefix, files = processing_code(settings)
    if not all(store.exists(prefix + name) for name in ENTRY_POINTS):
        for name, path in sorted(files.items(), key=lambda item: "/" not in item[0]):
            store.upload_file(path, prefix + name)
    return store.uri(prefix)
