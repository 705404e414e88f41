"""Page weight of the built site: the largest pages and the largest images.

    .venv/bin/python bench/page_weight.py [_build/html] [--top N]      (or: make page-weight)

Prints, from the built files:
* the site's size on disk, by folder;
* the pages by their own weight: HTML (with the widget state saved in it, figures included) plus
  the images they show, next to the budget ``tests/test_site_pages.py`` enforces, and the
  first-visit weight (own weight plus every script, style sheet and font of the shared front-end
  the page references, before the browser caches them);
* the largest images: figure files (``_images/``) and the figures inside widget state;
* when the browser suite has run (``_build/site-report/visits.json``), what Chromium actually
  transferred for each page.
Sizes are uncompressed; a web server's gzip makes the text files (HTML, scripts) several times
smaller on the wire. Nothing here asserts.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import course_site as S  # noqa: E402  (tools/course_site.py: the site's extension and helpers)



def mb(n: int) -> str:
    return f"{n / 1e6:7.2f} MB"


def png_size(data: bytes) -> str:
    from PIL import Image

    im = Image.open(io.BytesIO(data))
    return f"{im.width}x{im.height} {im.mode}"


def css_fonts(css: Path) -> set[Path]:
    """Files a style sheet loads through url(...) (fonts, mostly)."""
    out = set()
    for url in re.findall(r"url\(\s*['\"]?([^'\")]+)", css.read_text(errors="replace")):
        target = S.local_target(css, url)
        if target and target.is_file():
            out.add(target)
    return out


def first_visit(page: Path, own: dict) -> int:
    files = set(own["image_files"])
    for tag, attr, value, rel in S.parse_page(page).refs:
        loads = tag in ("script", "img") or (tag == "link" and any(
            r in rel for r in ("stylesheet", "preload", "icon")))
        target = S.local_target(page, value) if loads else None
        if target and target.is_file():
            files.add(target)
            if target.suffix == ".css":
                files |= css_fonts(target)
    return page.stat().st_size + sum(f.stat().st_size for f in files)


def widget_images(page: Path) -> list[tuple[int, str, str]]:
    html = page.read_text(encoding="utf-8")
    out = []
    for m in S.WIDGET_STATE.finditer(html):
        for model_id, model in json.loads(m.group(2)).get("state", {}).items():
            if model.get("state", {}).get("format") != "png":
                continue
            for buf in model.get("buffers", []):
                if buf.get("encoding") == "base64":
                    data = base64.b64decode(buf["data"])
                    out.append((len(data), f"widget {model_id[:8]}", png_size(data)))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", nargs="?", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args(argv)
    site = args.site.resolve()
    if not (site / "searchindex.js").exists():
        sys.exit(f"{site} is not a built site: run `make book` first")
    PAGE_BUDGET = S.PAGE_BUDGET

    files = [f for f in site.rglob("*") if f.is_file()]
    folders = defaultdict(int)
    for f in files:
        rel = f.relative_to(site).parts
        folders[rel[0] if len(rel) > 1 else "(pages at the top)"] += f.stat().st_size
    print(f"site: {site}\n{len(files)} files, {mb(sum(folders.values()))} on disk")
    for name, size in sorted(folders.items(), key=lambda kv: -kv[1]):
        print(f"  {mb(size)}  {name}/")

    pages = S.page_files(site)
    rows = []
    for p in pages:
        own = S.page_weight(p)
        rows.append((own["total"], own["html"], own["images"], first_visit(p, own),
                     str(p.relative_to(site))))
    budget = f" (budget {PAGE_BUDGET / 1e6:.1f} MB)" if PAGE_BUDGET else ""
    print(f"\n{len(pages)} pages, {mb(sum(r[0] for r in rows))} of their own in all; "
          f"the {min(args.top, len(rows))} heaviest{budget}:")
    print(f"  {'own':>10} {'html':>10} {'images':>10} {'1st visit':>10}  page")
    for total, html, images, visit, name in sorted(rows, reverse=True)[:args.top]:
        print(f"  {mb(total)} {mb(html)} {mb(images)} {mb(visit)}  {name}")

    images = []
    used_by = defaultdict(list)
    for p in pages:
        for f in S.page_weight(p)["image_files"]:
            used_by[f].append(str(p.relative_to(site)))
        images += [(n, f"{p.relative_to(site)}: {what}", dims) for n, what, dims in widget_images(p)]
    for f in sorted((site / "_images").glob("*")):
        data = f.read_bytes()
        dims = png_size(data) if f.suffix == ".png" else ""
        pages_using = ", ".join(used_by[f.resolve()]) or "unused"
        images.append((len(data), f"_images/{f.name[:16]}... ({pages_using})", dims))
    print(f"\n{len(images)} images, {mb(sum(i[0] for i in images))}; "
          f"the {min(args.top, len(images))} largest:")
    for n, what, dims in sorted(images, reverse=True)[:args.top]:
        print(f"  {mb(n)}  {dims:>18}  {what}")

    visits = ROOT / "_build" / "site-report" / "visits.json"
    if visits.exists():
        seen = json.loads(visits.read_text())
        print(f"\nmeasured by the browser suite ({visits.relative_to(ROOT)}): bytes transferred on "
              f"a first visit, load time")
        for doc, v in sorted(seen.items(), key=lambda kv: -kv[1]["bytes"])[:args.top]:
            print(f"  {mb(v['bytes'])}  {v['seconds']:5.2f} s  {doc}")


if __name__ == "__main__":
    main()
