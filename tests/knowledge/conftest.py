"""Knowledge fixtures: one index per test session, built from the shipped statutes and a frozen
Q&A fixture (so ranking tests do not move when the content team edits knowledge/qa)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import BUILT_HOME

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session", autouse=True)
def _vector_cache(tmp_path_factory):
    # The e5 encode is the slow part of a build: start from a copy of the vectors `make setup`
    # cached (var/cache/kb-vectors.sqlite) when there is one. A copy: tests never write to var/.
    cache = tmp_path_factory.mktemp("kb-cache") / "kb-vectors.sqlite"
    shared = BUILT_HOME / "cache" / "kb-vectors.sqlite"
    if shared.exists():
        shutil.copy(shared, cache)
    os.environ.setdefault("MINGBAI_KB_VECTOR_CACHE", str(cache))
    os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def kb(session_home, _vector_cache):
    """The session's index (statutes BM25 + fixture Q&A), loaded as ask() will find it."""
    from knowledge import index
    from knowledge.search import get_searcher, reset_cache
    from mingbai.settings import get_settings

    index_dir = get_settings().index_dir
    index.build(index_dir, qa_dir=DATA, asked_dir=DATA / "asked", article_vectors=False, workers=1, progress=False)
    reset_cache()
    return get_searcher(index_dir)
