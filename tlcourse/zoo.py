"""The model zoo: small models the course pre-trains itself, reproducibly, offline.

A *recipe* is a named training function plus every parameter that decides its result (config,
data, seed, steps). Its output is saved in the ecosystem's own format (``save_pretrained``:
``config.json`` + ``model.safetensors``) with its training history, in a cache folder keyed by a
hash of the recipe — name, parameters, and the source of every course module its training code
imports, directly or through other course modules — so a changed recipe, or a changed library
function it uses, never loads a stale model::

    from tlcourse import zoo
    model = zoo.load("fashion-resnet")            # trains on first use (progress bar), then cached
    zoo.history("fashion-resnet")["loss"]         # the training curve
    zoo.load("fashion-resnet", steps=50)          # the same recipe run for a short while

``make assets`` (``python -m tlcourse.zoo build``) builds every recipe; ``python -m tlcourse.zoo
list`` shows what is cached. The cache is ``$TLCOURSE_CACHE`` or ``<repo>/.cache/zoo``.
"""
from __future__ import annotations

import argparse
import ast
import fcntl
import functools
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
    shipped: bool = False          # trained once for longer, weights committed in tlcourse/weights/
    work: float | None = None      # expected training time on one thread, in seconds (scheduling only)

    def with_params(self, **overrides) -> "Recipe":
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise TypeError(f"recipe {self.name!r} has no parameters {sorted(unknown)}; "
                            f"it has {sorted(self.params)}")
        return Recipe(self.name, self.description, self.train, self.model_class,
                      {**self.params, **overrides}, self.shipped, self.work)

    @property
    def key(self) -> str:
        own = self.train.__module__
        code = {m: _module_source(m) for m in sorted(course_modules(own) - {own})}
        blob = json.dumps({"name": self.name, "params": self.params, "model": self.model_class,
                           "train": inspect.getsource(self.train), "own": _recipe_module_code(own, self.train),
                           "code": code}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def path(self) -> Path:
        return cache_dir() / f"{self.name}-{self.key}"

    @property
    def is_shipped(self) -> bool:
        """Shipped weights stand for the recipe as registered, not for a variant of it."""
        return self.shipped and self.params == RECIPES[self.name].params

    def load_model(self, path: Path):
        module, cls = self.model_class.split(":")
        return getattr(__import__(module, fromlist=[cls]), cls).from_pretrained(path)


RECIPES: dict[str, Recipe] = {}

_PACKAGE = __name__.rsplit(".", 1)[0]           # "tlcourse"
_PACKAGE_DIR = Path(__file__).resolve().parent


def _module_file(module: str) -> Path | None:
    """The file of a course module ("tlcourse.bert" -> .../tlcourse/bert.py), None if not one."""
    if module != _PACKAGE and not module.startswith(_PACKAGE + "."):
        return None
    parts = module.split(".")[1:]
    base = _PACKAGE_DIR.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_source(module: str) -> str:
    path = _module_file(module)
    return _read(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _read(path: Path, mtime_ns: int) -> str:        # cached until the file changes
    return path.read_text()


@functools.lru_cache(maxsize=256)
def _parse(source: str) -> ast.Module:
    return ast.parse(source)


def _imports(module: str) -> set[str]:
    """Course modules that ``module`` imports anywhere in its file (function bodies included)."""
    path = _module_file(module)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(_parse(_module_source(module))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = ".".join(base[:len(base) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)   # `from .. import bert`
    return {m for m in found if _module_file(m) is not None}


# The zoo's own machinery (caching, the registry) and the package's docstring decide no weights; a
# recipe built on another one names that recipe's key among its parameters.
_NOT_RECIPE_CODE = {__name__, f"{_PACKAGE}.recipes", _PACKAGE}


def _recipe_module_code(module: str, train: Callable) -> list[str]:
    """The code of a recipe's own module that its weights can depend on: everything but the other
    recipes' training functions (editing a neighbour recipe must not retrain this one)."""
    if _module_file(module) is None:             # defined outside the course (a test's recipe)
        return []
    source = _module_source(module)
    kept = []
    for node in _parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != train.__name__ \
                and any(isinstance(d, ast.Call) and getattr(d.func, "id", "") == "recipe"
                        for d in node.decorator_list):
            continue
        kept.append(ast.get_source_segment(source, node))
    return kept


def course_modules(module: str) -> set[str]:
    """``module`` and every course module it uses, transitively: what a recipe's weights depend on."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m not in seen and m not in _NOT_RECIPE_CODE and _module_file(m) is not None:
            seen.add(m)
            todo.extend(_imports(m) - seen)
    return seen


def recipe(name: str, description: str, model_class: str, shipped: bool = False,
           work: float | None = None, **params):
    """Register ``train(params, out_dir, progress) -> history`` as the recipe ``name``.

    ``shipped=True``: the recipe is too long for the build budget; its weights are trained once
    (``make assets RETRAIN=1``) and committed in ``tlcourse/weights/<name>/`` with their key and
    training log, and loaded from there like any zoo model."""
    def register(train):
        RECIPES[name] = Recipe(name, description, train, model_class, params, shipped, work)
        return train
    return register


SHIPPED_DIR = _PACKAGE_DIR / "weights"
RETRAIN_COMMAND = "make assets RETRAIN=1"


def _retraining() -> bool:
    return os.environ.get("TLCOURSE_RETRAIN", "") not in ("", "0")


def _shipped_folder(r: Recipe) -> Path:
    """The committed weights of a shipped recipe, checked against the recipe's current key."""
    folder = SHIPPED_DIR / r.name
    if not (folder / "recipe.json").exists():
        raise FileNotFoundError(
            f"the shipped weights of {r.name!r} are missing from {folder}: restore them from the "
            f"repository, or train them with `{RETRAIN_COMMAND}`")
    shipped = json.loads((folder / "recipe.json").read_text())
    if shipped["key"] != r.key:
        raise RuntimeError(
            f"the shipped weights of {r.name!r} were trained by another version of its recipe (key "
            f"{shipped['key']}, the code now gives {r.key}): the recipe or a course module it uses "
            f"({', '.join(sorted(course_modules(r.train.__module__)))}) changed since. Retrain them "
            f"with `{RETRAIN_COMMAND}` (last time: {shipped.get('seconds', 0) / 60:.0f} min) and "
            f"commit tlcourse/weights/{r.name}, or undo the change")
    return folder


def replay(name: str, steps: int) -> dict:
    """Run the first ``steps`` steps of a recipe (with its full schedule) and return the history:
    a shipped model's log must start with exactly these losses."""
    r = get(name)
    with tempfile.TemporaryDirectory() as scratch:
        return r.train({**r.params, "stop_after": steps}, Path(scratch), False)


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
    if r.is_shipped and not _retraining():
        return _shipped_folder(r)
    if (r.path / "recipe.json").exists() and not force and not (r.is_shipped and _retraining()):
        return r.path
    r.path.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time per recipe (a book build and a test run may ask at once); whoever
    # waited finds the model built and returns it.
    with open(r.path.parent / f".{r.path.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (r.path / "recipe.json").exists() and not force and not r.is_shipped:
            return r.path
        _train_into_place(r, progress)
    if r.is_shipped:
        folder = SHIPPED_DIR / r.name
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(r.path, folder)
        folder.chmod(0o755)                    # committed files: readable by everyone
        for f in folder.iterdir():
            f.chmod(0o644)
        return folder
    return r.path


def _train_into_place(r: Recipe, progress: bool) -> None:
    # Train into a scratch folder next to the cache and rename it into place when complete:
    # an interrupted run never leaves a half-written model behind.
    key, path = r.key, r.path   # of the code as it was when training started
    scratch = Path(tempfile.mkdtemp(prefix=f".{r.name}-", dir=path.parent))
    try:
        start = time.perf_counter()
        history = r.train(dict(r.params), scratch, progress)
        seconds = time.perf_counter() - start
        (scratch / "history.json").write_text(json.dumps(history))
        info = {"name": r.name, "key": key, "params": r.params, "model_class": r.model_class,
                "seconds": round(seconds, 1)}
        tokens = history.get("tokens") if isinstance(history, dict) else None
        tokens = tokens[-1] if isinstance(tokens, list) and tokens else tokens
        if isinstance(tokens, int) and tokens > 0:
            info.update(tokens=tokens, tokens_per_second=round(tokens / seconds))
        if r.is_shipped:
            info["retrain"] = RETRAIN_COMMAND
        (scratch / "recipe.json").write_text(json.dumps(info, indent=2))
        if path.exists():
            shutil.rmtree(path)
        os.replace(scratch, path)
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


def dependencies(name: str, keys: dict[str, str] | None = None) -> set[str]:
    """The recipes ``name`` is built on: those whose key is one of its parameters (``keys``: the
    key of every recipe, when already computed)."""
    r = get(name)
    keys = keys or {other.name: other.key for other in RECIPES.values()}
    by_key = {k: n for n, k in keys.items() if n != name}
    return {by_key[v] for v in r.params.values() if isinstance(v, str) and v in by_key}


def _build_one(name: str, force: bool) -> tuple[str, str, float]:
    start = time.perf_counter()
    path = build(name, force=force)
    return name, str(path), time.perf_counter() - start


def expected_work(name: str) -> float:
    """A recipe's expected training time on one thread, for scheduling only: its ``work`` hint in
    seconds where it gives one, else its number of training steps, a rough proxy (the recipes'
    steps take 0.1 to 1 s each on a laptop core)."""
    r = RECIPES[name]
    if r.work is not None:
        return r.work
    steps = r.params.get("steps")
    return sum(steps) if isinstance(steps, (list, tuple)) else steps or 0


def critical_path(name: str, names: list[str], keys: dict[str, str]) -> float:
    """The expected work of ``name`` and of the longest chain of recipes (among ``names``) built on
    it: what starting it late would add to the whole build."""
    after = [n for n in names if name in dependencies(n, keys)]
    return expected_work(name) + max((critical_path(n, names, keys) for n in after), default=0)


def build_many(names: list[str], jobs: int = 1, force: bool = False) -> dict[str, dict]:
    """Build recipes, ``jobs`` at a time in separate processes (each recipe trains on one thread,
    so the result is the same as one at a time), each after the recipes it is built on, the
    longest chains first (:func:`critical_path`). Returns
    per recipe the wall time of this build and the recipe's own training record."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from multiprocessing import get_context

    keys = {r.name: r.key for r in RECIPES.values()}
    todo = {n: dependencies(n, keys) & set(names) for n in names}
    done: dict[str, dict] = {}
    order = sorted(names, key=lambda n: -critical_path(n, names, keys))
    with ProcessPoolExecutor(max_workers=max(1, jobs), mp_context=get_context("spawn")) as pool:
        running = {}
        while todo or running:
            for n in [n for n in order if n in todo and not (todo[n] - set(done))]:
                if len(running) >= max(1, jobs):
                    break
                running[pool.submit(_build_one, n, force)] = n
                del todo[n]
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for f in finished:
                name, path, seconds = f.result()
                del running[f]
                record = json.loads((Path(path) / "recipe.json").read_text())
                done[name] = {"wall_s": round(seconds, 1), **{k: record.get(k) for k in
                              ("seconds", "tokens", "tokens_per_second")}, "path": path}
                tps = record.get("tokens_per_second")
                print(f"{name}: {path} ({seconds:.1f} s here; trained in {record.get('seconds')} s"
                      + (f", {tps:,} tokens/s" if tps else "") + ")", flush=True)
    return done


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tlcourse.zoo", description="The model zoo.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="recipes, their cache folders, built or not")
    b = sub.add_parser("build", help="build recipes (default: all)")
    b.add_argument("names", nargs="*")
    b.add_argument("--force", action="store_true", help="rebuild even when cached")
    b.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                   help="recipes trained at once, one thread each (default: the cores)")
    args = parser.parse_args(argv)
    _register_all()
    if args.cmd == "list":
        for name, r in sorted(RECIPES.items()):
            state = "shipped" if r.shipped else "built" if is_built(name) else "not built"
            print(f"{name:<24} {state:<10} {r.path}  {r.description}")
    else:
        start = time.perf_counter()
        build_many(args.names or sorted(RECIPES), jobs=args.jobs, force=args.force)
        print(f"zoo: {time.perf_counter() - start:.1f} s with {args.jobs} job(s)")


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy: recipes register in tlcourse.zoo.
    from tlcourse.zoo import main as _main
    _main()
