"""The model zoo: small models the course pre-trains itself, reproducibly, offline.

A *recipe* is a named training function plus every parameter that decides its result (config,
data, seed, steps). Its output is saved in the ecosystem's own format (``save_pretrained``:
``config.json`` + ``model.safetensors``) with its training history, in a cache folder keyed by a
hash of the recipe — name, parameters and the training function's source — so a changed recipe
never loads a stale model::

    from tlcourse import zoo
    model = zoo.load("fashion-resnet")            # trains on first use (progress bar), then cached
    zoo.history("fashion-resnet")["loss"]         # the training curve
    zoo.load("fashion-resnet", steps=50)          # the same recipe run for a short while

``make assets`` (``python -m tlcourse.zoo build``) builds every recipe; ``python -m tlcourse.zoo
list`` shows what is cached. The cache is ``$TLCOURSE_CACHE`` or ``<repo>/.cache/zoo``.
"""
from __future__ import annotations

import argparse
import fcntl
import hashlib
import inspect
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .paths import cache_dir


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    train: Callable[..., dict]     # train(params, out_dir, progress) -> history; saves the model
    model_class: str               # "module:Class" with a from_pretrained, e.g. transformers classes
    params: dict = field(default_factory=dict)

    def with_params(self, **overrides) -> "Recipe":
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise TypeError(f"recipe {self.name!r} has no parameters {sorted(unknown)}; "
                            f"it has {sorted(self.params)}")
        return Recipe(self.name, self.description, self.train, self.model_class,
                      {**self.params, **overrides})

    @property
    def key(self) -> str:
        blob = json.dumps({"name": self.name, "params": self.params, "model": self.model_class,
                           "code": inspect.getsource(self.train)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def path(self) -> Path:
        return cache_dir() / f"{self.name}-{self.key}"

    def load_model(self, path: Path):
        module, cls = self.model_class.split(":")
        return getattr(__import__(module, fromlist=[cls]), cls).from_pretrained(path)


RECIPES: dict[str, Recipe] = {}


def recipe(name: str, description: str, model_class: str, **params):
    """Register ``train(params, out_dir, progress) -> history`` as the recipe ``name``."""
    def register(train):
        RECIPES[name] = Recipe(name, description, train, model_class, params)
        return train
    return register


def get(name: str, **overrides) -> Recipe:
    _register_all()
    if name not in RECIPES:
        raise KeyError(f"no recipe {name!r}; the zoo has: {', '.join(sorted(RECIPES)) or 'nothing'}")
    return RECIPES[name].with_params(**overrides)


def is_built(name: str, **overrides) -> bool:
    return (get(name, **overrides).path / "recipe.json").exists()


def build(name: str, force: bool = False, progress: bool = True, **overrides) -> Path:
    """Run the recipe unless its result is cached; return the folder holding the model."""
    r = get(name, **overrides)
    if (r.path / "recipe.json").exists() and not force:
        return r.path
    r.path.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time per recipe (a book build and a test run may ask at once); whoever
    # waited finds the model built and returns it.
    with open(r.path.parent / f".{r.path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (r.path / "recipe.json").exists() and not force:
            return r.path
        _train_into_place(r, progress)
    return r.path


def _train_into_place(r: Recipe, progress: bool) -> None:
    # Train into a scratch folder next to the cache and rename it into place when complete:
    # an interrupted run never leaves a half-written model behind.
    scratch = Path(tempfile.mkdtemp(prefix=f".{r.name}-", dir=r.path.parent))
    try:
        start = time.perf_counter()
        history = r.train(dict(r.params), scratch, progress)
        seconds = time.perf_counter() - start
        (scratch / "history.json").write_text(json.dumps(history))
        (scratch / "recipe.json").write_text(json.dumps(
            {"name": r.name, "key": r.key, "params": r.params, "model_class": r.model_class,
             "seconds": round(seconds, 1)}, indent=2))
        if r.path.exists():
            shutil.rmtree(r.path)
        os.replace(scratch, r.path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def load(name: str, **overrides):
    """The trained model, from the cache (trained first if missing), in eval mode."""
    r = get(name, **overrides)
    return r.load_model(build(name, **overrides)).eval()


def history(name: str, **overrides) -> dict:
    """The training history the recipe recorded (e.g. ``{"step": [...], "loss": [...]}``)."""
    return json.loads((build(name, **overrides) / "history.json").read_text())


def info(name: str, **overrides) -> dict:
    return json.loads((build(name, **overrides) / "recipe.json").read_text())


def _register_all() -> None:
    from . import recipes  # noqa: F401  (registers the recipes on import)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tlcourse.zoo", description="The model zoo.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="recipes, their cache folders, built or not")
    b = sub.add_parser("build", help="build recipes (default: all)")
    b.add_argument("names", nargs="*")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = parser.parse_args(argv)
    _register_all()
    if args.cmd == "list":
        for name, r in sorted(RECIPES.items()):
            state = "built" if is_built(name) else "not built"
            print(f"{name:<20} {state:<10} {r.path}  {r.description}")
    else:
        for name in args.names or sorted(RECIPES):
            start = time.perf_counter()
            path = build(name, force=args.force)
            print(f"{name}: {path} ({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: recipes register in tlcourse.zoo.
    from tlcourse.zoo import main as _main
    _main()
