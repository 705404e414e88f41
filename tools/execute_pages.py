"""Execute the book's chapter pages several at a time into the site's execution cache.

Every page trains and evaluates on one thread (small matrices: one thread is fastest and gives
the same numbers on every machine), so `jupyter-book build`, which executes pages one after the
other, leaves all but one core idle. This script executes the pages that are not in the cache
yet, ``--jobs`` at a time, exactly as myst-nb's ``cache`` mode would (same reader, working
folder, timeout and errors setting from ``_config.yml``), and stores each executed page in the
same jupyter-cache. The book build then finds them there and only renders.

A page that raises is not cached: the book build executes it again and fails on it with its
traceback, as it always does. So this step can only save time, never hide an error.

    python tools/execute_pages.py [--jobs N] [--root BOOK] [PAGE.ipynb ...]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _config(root: Path) -> dict:
    return yaml.safe_load((root / "_config.yml").read_text()).get("execute", {})


def chapter_pages(root: Path = ROOT) -> list[Path]:
    """The notebook pages named in the table of contents (the generated solution pages, which
    run in seconds, are left to the book build)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("file"), str):
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(toc)
    return [root / f"{f}.ipynb" for f in files if (root / f"{f}.ipynb").is_file()]


def _execute(path: str, timeout: int | None) -> tuple[str, object, float, str | None]:
    """Run in a worker process: the executed notebook, its time, and the traceback if it raised."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = nbformat.read(path, as_version=4)
    result = single_nb_execution(nb, cwd=str(Path(path).parent), timeout=timeout,
                                 allow_errors=False, meta_override=True)
    return path, result.nb, result.time, result.exc_string if result.err else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="*", type=Path, help="pages to execute (default: the chapters)")
    ap.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--root", type=Path, default=ROOT, help="the book's folder (its _config.yml)")
    args = ap.parse_args(argv)

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    root = args.root.resolve()
    cfg = _config(root)
    if cfg.get("execute_notebooks", "cache") != "cache" or cfg.get("run_in_temp"):
        print("execute_pages: the book is not built in cache mode in the pages' folder; "
              "nothing to do")
        return 0
    # the cache path is relative to the folder the book build runs in: the book's (`make book`)
    cache = get_cache(str(root / cfg.get("cache", ".jupyter_cache")))
    todo = []
    for page in [p.resolve() for p in (args.pages or chapter_pages(root))]:
        try:
            cache.match_cache_notebook(nbformat.read(page, as_version=4))
        except KeyError:
            todo.append(page)
    # longest pages first (as timed by their last run, where there was one): the pool ends sooner
    done = {Path(r.uri).name: (r.data or {}).get("execution_seconds", 0)
            for r in cache.list_cache_records()}
    todo.sort(key=lambda p: -done.get(p.name, 1e9))
    print(f"execute_pages: {len(todo)} page(s) to execute, {max(1, args.jobs)} at a time: "
          + ", ".join(p.name for p in todo))
    if not todo:
        return 0
    start, failed = time.perf_counter(), []
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        jobs = [pool.submit(_execute, str(p), cfg.get("timeout")) for p in todo]
        for job in as_completed(jobs):
            path, nb, seconds, error = job.result()
            name = Path(path).name
            if error:
                failed.append(name)
                print(f"execute_pages: {name} raised after {seconds:.0f} s; the book build "
                      "will execute it again and report the error", flush=True)
                continue
            stage = cache.add_nb_to_project(path)
            cache.cache_notebook_bundle(CacheBundleIn(nb, stage.uri,
                                                      data={"execution_seconds": seconds}),
                                        check_validity=False, overwrite=True)
            print(f"execute_pages: {name} executed in {seconds:.0f} s", flush=True)
    print(f"execute_pages: {len(todo) - len(failed)} page(s) cached in "
          f"{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
