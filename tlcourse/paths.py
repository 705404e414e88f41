"""Where things live: the repository, the model-zoo cache, the grading work folder."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cache_dir() -> Path:
    """The model-zoo cache: ``$TLCOURSE_CACHE`` or ``<repo>/.cache/zoo``."""
    return Path(os.environ.get("TLCOURSE_CACHE", ROOT / ".cache" / "zoo"))
