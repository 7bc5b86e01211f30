"""Build the shared benchmark corpus: real, human-written English from this machine's Debian docs.

Every benchmark reads the same JSONL so that figures stay comparable across issues. Sources, from
``apt-get install --no-install-recommends python3-doc debian-reference-en man-db manpages
manpages-dev groff-base linux-doc-6.1 postgresql-doc-15 perl-doc git-doc debian-policy
developers-reference``:

* ``man``            English man pages, rendered to plain text with groff;
* ``html:<manual>``  the main content block of installed HTML manuals (navigation dropped);
* ``text:<kind>``    copyright files, common licences, Debian changelogs and NEWS files. These
                     hold many real near-duplicates (licence bodies), which dedup benchmarks want.

Each line is ``{"id", "text", "source", "path"}``; ``id`` is derived from the source path, so it
is stable across runs. Documents are collected in path order, then shuffled with a fixed seed, so
the output depends only on the installed files and ``--seed``.

    python bench/corpus.py --output bench/data/corpus.jsonl [--workers 2] [--seed 0] [--split N]

Standard library plus lxml only.
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import lxml.etree
import lxml.html

# --- Sources ------------------------------------------------------------------------------------

SHARE = Path("/usr/share")
MAN_ROOT = SHARE / "man"

# English pages only: man1..man8 (localized pages live in /usr/share/man/<lang>/). Seen on this
# machine: 20,559 real files, all .gz, 15 of them .so stubs (Debian turns most redirects into
# symlinks); 20,544 pages / 112.1 MB rendered, of which gcloud_* pages are 16,631 / 65.5 MB.
MAN_SECTION_GLOB = "man[1-9]*"

# groff as in BENCH_CORPUS.md (2.5x faster than `man -l`), plus -Kutf8: preconv reads the input
# as UTF-8 (without it groff assumes Latin-1 and "–args" comes out as "âargs").
# -P-cbou: no SGR colour, no bold/underline overstrike, so the output is plain text.
GROFF_CMD = ["groff", "-Kutf8", "-t", "-mandoc", "-Tutf8", "-rLL=80n", "-P-cbou"]
# Prepended to every page: no hyphenation, and `.hy` made a no-op, because pages such as the
# Linux man-pages re-enable it themselves and words then split across lines ("cur‐\nrent");
# -rHY=0 alone left 347 pages with split words.
MAN_PREAMBLE = ".nh\n.de hy\n..\n"
GROFF_TIMEOUT_S = 60  # only guards against a hung groff: the largest page, perltoc(1), takes 0.25 s

# manual name -> (directory globs, file-name glob). Globs are resolved and deduplicated because
# several packages symlink the same tree (python3-doc/html, python3.11-doc/html -> python3.11/html).
# Seen: python 531, debian-reference 16, postgresql 1,169, kernel 3,185, git 241, debian-policy 44,
# developers-reference 12 HTML files; 4,530 pages / 50.9 MB of text survive extraction.
HTML_MANUALS = {
    "python": (["doc/python3*/html"], "*.html"),
    "debian-reference": (["debian-reference"], "*.en.html"),  # other languages share the folder
    "postgresql": (["doc/postgresql-doc-15/html"], "*.html"),
    "kernel": (["doc/linux-doc-6.1/html"], "*.html"),
    "git": (["doc/git-doc"], "*.html"),
    "debian-policy": (["doc/debian-policy"], "*.html"),
    "developers-reference": (["developers-reference"], "*.html"),
}
# Generated index/search pages: lists of links, not prose.
HTML_SKIP_NAME = re.compile(r"^(genindex(-.*)?|search|py-modindex)\.html$")
# The kernel docs carry Chinese, Italian, Korean and Japanese translations (335 pages, 2.9 MB).
HTML_SKIP_DIRS = frozenset({"translations"})

# Plain-text sources: source -> glob under SHARE. Seen: 678 copyright files (15.4 MB of text),
# 14 licences (0.2 MB), 631 changelog.Debian.gz (20.8 MB), 166 NEWS*.gz (9.4 MB).
TEXT_SOURCES = {
    "text:copyright": "doc/*/copyright",
    "text:license": "common-licenses/*",
    "text:changelog": "doc/*/changelog.Debian.gz",
    "text:news": "doc/*/NEWS*.gz",
}

# --- Output -------------------------------------------------------------------------------------

MIN_CHARS = 200  # drops 289 files here, nearly all HTML index pages that held only a TOC
DEFAULT_SEED = 0
DEFAULT_WORKERS = 2  # the build machine has 2 cores; groff dominates the ~4 minute build
MB = 1_000_000  # sizes are reported in 10^6 bytes of UTF-8 text
PROGRESS_EVERY = 2_000

# --- HTML extraction ----------------------------------------------------------------------------


def _has_class(name: str) -> str:
    return f"contains(concat(' ', normalize-space(@class), ' '), ' {name} ')"


# Navigation, sidebars, headers and footers of the three generators in use: Sphinx (python,
# kernel, policy, developers-reference), DocBook XSL (postgresql, debian-reference, fhs) and
# AsciiDoc (git). Tables of contents count as navigation: they only repeat headings as links.
_JUNK_CLASSES = [
    "navheader", "navfooter",  # DocBook prev/up/next bars
    "sphinxsidebar", "related", "footer", "rst-footer-buttons",  # Sphinx chrome
    "headerlink",  # the "¶" permalink after every Sphinx heading
    "toctree-wrapper", "contents", "toc", "list-of-tables", "list-of-figures", "list-of-examples",
]
JUNK_XPATH = " | ".join(
    [
        "//script", "//style", "//noscript", "//nav", "//header", "//footer", "//form",
        "//*[@role='navigation' or @role='search' or @role='contentinfo']",
        "//*[@id='footer']",  # AsciiDoc "Last updated" footer
    ]
    + [f"//*[{_has_class(name)}]" for name in _JUNK_CLASSES]
)
# Sphinx marks its content block; DocBook and AsciiDoc pages are all content once junk is gone.
MAIN_XPATH = "//*[@role='main']"

BLOCK_TAGS = frozenset(
    "address article aside blockquote caption dd div dl dt figcaption figure h1 h2 h3 h4 h5 h6 "
    "hr li ol p pre section table tbody tfoot thead tr ul".split()
)
CELL_TAGS = frozenset({"td", "th"})
_BREAK = "\x00"  # paragraph-break marker while rendering (real pages hold no NUL characters)
_BREAKS = re.compile(r"[ \t]*\x00[\x00 \t]*")
_WHITESPACE = re.compile(r"\s+")
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>")  # lxml refuses str input that has one


def _render(el, out: list[str], pre: bool) -> None:
    """Append the text of ``el`` to ``out``: blocks become paragraph breaks, whitespace is
    collapsed outside <pre>."""
    tag = el.tag if isinstance(el.tag, str) else ""  # comments and PIs have a callable tag
    if tag in BLOCK_TAGS:
        out.append(_BREAK)
    if tag == "li":
        out.append("- ")
    elif tag in CELL_TAGS:
        out.append(" ")
    elif tag == "br":
        out.append("\n")
    inner_pre = pre or tag == "pre"
    if tag and el.text:
        out.append(el.text if inner_pre else _WHITESPACE.sub(" ", el.text))
    for child in el:
        _render(child, out, inner_pre)
        if child.tail:
            out.append(child.tail if inner_pre else _WHITESPACE.sub(" ", child.tail))
    if tag in BLOCK_TAGS:
        out.append(_BREAK)


def html_to_text(html: str) -> str:
    """Main content of an HTML page as plain text, paragraphs separated by blank lines."""
    root = lxml.html.document_fromstring(_XML_DECLARATION.sub("", html, count=1))
    for el in root.xpath(JUNK_XPATH):
        el.drop_tree()  # keeps the element's tail text, which belongs to the parent
    main = root.xpath(MAIN_XPATH) or root.xpath("//body") or [root]
    out: list[str] = []
    _render(main[0], out, pre=False)
    return _BREAKS.sub("\n\n", "".join(out))


# --- Text helpers -------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # form feeds in licences, stray backspaces
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize(text: str) -> str:
    """Unix newlines, no control characters, no trailing blanks, at most one empty line in a row."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _TRAILING_SPACE.sub("\n", text + "\n")
    return _BLANK_RUNS.sub("\n\n", text).strip()


def read_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_text(path: Path) -> str:
    return read_bytes(path).decode("utf-8", errors="replace")


def is_so_stub(source: str) -> bool:
    """True for a man page that only redirects to another one (``.so man1/foo.1``)."""
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(('.\\"', "'\\\"")):
            continue  # blank lines and comments may precede the redirect
        return stripped.startswith(".so ")
    return False


def render_man(source: str) -> str | None:
    """Plain text of a man page, or None when groff fails."""
    proc = subprocess.run(
        GROFF_CMD,
        input=(MAN_PREAMBLE + source).encode("utf-8"),
        capture_output=True,  # stderr holds harmless warnings (unknown macros, long lines)
        cwd=MAN_ROOT,  # so a relative `.so manN/...` inside a page resolves
        timeout=GROFF_TIMEOUT_S,
    )
    if proc.returncode != 0:
        return None
    return proc.stdout.decode("utf-8", errors="replace")


# --- Discovery ----------------------------------------------------------------------------------

Task = tuple[str, str]  # (source, absolute path)


def _real_file(path: Path) -> bool:
    """A regular file reached without symlinks: links would only duplicate another document."""
    return path.is_file() and not path.is_symlink() and not path.parent.is_symlink()


def man_tasks() -> list[Task]:
    sections = sorted(
        d for d in MAN_ROOT.glob(MAN_SECTION_GLOB) if d.is_dir() and not d.is_symlink()
    )
    return [("man", str(p)) for d in sections for p in sorted(d.iterdir()) if _real_file(p)]


def _html_roots(patterns: list[str]) -> list[Path]:
    roots = {p.resolve() for pattern in patterns for p in SHARE.glob(pattern) if p.is_dir()}
    return sorted(roots)


def _wanted_html(path: Path, root: Path) -> bool:
    folders = path.relative_to(root).parts[:-1]
    return (
        _real_file(path)
        and not HTML_SKIP_NAME.match(path.name)
        and not HTML_SKIP_DIRS.intersection(folders)
    )


def html_tasks() -> list[Task]:
    tasks = []
    for manual, (patterns, name_glob) in HTML_MANUALS.items():
        for root in _html_roots(patterns):
            for path in sorted(root.rglob(name_glob)):  # rglob does not descend into dir links
                if _wanted_html(path, root):
                    tasks.append((f"html:{manual}", str(path)))
    return tasks


def text_tasks() -> list[Task]:
    return [
        (source, str(path))
        for source, pattern in TEXT_SOURCES.items()
        for path in sorted(SHARE.glob(pattern))
        if _real_file(path)
    ]


def doc_id(source: str, path: str) -> str:
    """Stable id from the source path, e.g. ``man:man1/ls.1.gz``,
    ``html:git:doc/git-doc/git-add.html``, ``text:license:common-licenses/GPL-3``."""
    base = MAN_ROOT if source == "man" else SHARE
    return f"{source}:{Path(path).relative_to(base)}"


# --- Loading (runs in the worker pool) ----------------------------------------------------------


def load(task: Task) -> tuple[Task, str | None, str]:
    """Return (task, text, status); text is None unless status is "ok"."""
    source, path = task
    try:
        raw = read_text(Path(path))
        if source == "man":
            if is_so_stub(raw):
                return task, None, "stub"
            rendered = render_man(raw)
            if rendered is None:
                return task, None, "error"
            raw = rendered
        elif source.startswith("html:"):
            raw = html_to_text(raw)
    except (OSError, ValueError, subprocess.TimeoutExpired, lxml.etree.LxmlError) as exc:
        print(f"warning: {path}: {exc}", file=sys.stderr)
        return task, None, "error"
    text = normalize(raw)
    if len(text) < MIN_CHARS:
        return task, None, "short"
    return task, text, "ok"


def collect(tasks: list[Task], workers: int) -> tuple[list[dict], dict[str, int]]:
    """Load every task in a process pool; returns documents (in task order) and skip counts."""
    docs: list[dict] = []
    skipped = {"stub": 0, "error": 0, "short": 0}
    with multiprocessing.Pool(workers) as pool:
        for n, ((source, path), text, status) in enumerate(pool.imap(load, tasks, chunksize=8), 1):
            if text is None:
                skipped[status] += 1
            else:
                record = {"id": doc_id(source, path), "text": text, "source": source, "path": path}
                docs.append(record)
            if n % PROGRESS_EVERY == 0:
                print(f"  {n:,}/{len(tasks):,} files", file=sys.stderr, flush=True)
    return docs, skipped


# --- Output -------------------------------------------------------------------------------------


def write_jsonl(docs: list[dict], path: Path) -> None:
    """Write atomically, so an interrupted build never leaves an output that later runs skip."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for doc in docs:
            f.write(json.dumps(doc, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def split_jsonl(path: Path, parts: int) -> list[Path]:
    """Copy ``corpus.jsonl`` into ``corpus-00000.jsonl``... (contiguous, near-equal line counts),
    for peer tools that parallelize over input files only."""
    for stale in path.parent.glob(f"{path.stem}-[0-9][0-9][0-9][0-9][0-9].jsonl"):
        stale.unlink()  # a previous run may have used a larger N
    with path.open(encoding="utf-8") as f:
        total = sum(1 for _ in f)
    outputs = [path.with_name(f"{path.stem}-{i:05d}.jsonl") for i in range(parts)]
    with path.open(encoding="utf-8") as f:
        for i, out in enumerate(outputs):
            count = (i + 1) * total // parts - i * total // parts
            with out.open("w", encoding="utf-8") as g:
                for _ in range(count):
                    g.write(next(f))
    return outputs


def summarize(
    docs: list[dict], skipped: dict[str, int], elapsed: float, args: argparse.Namespace
) -> dict:
    sources: dict[str, dict] = {}
    for doc in docs:
        entry = sources.setdefault(doc["source"], {"docs": 0, "bytes": 0})
        entry["docs"] += 1
        entry["bytes"] += len(doc["text"].encode("utf-8"))
    for entry in sources.values():
        entry["mb"] = round(entry["bytes"] / MB, 2)
    total_bytes = sum(e["bytes"] for e in sources.values())
    return {
        "sources": dict(sorted(sources.items())),
        "total": {"docs": len(docs), "bytes": total_bytes, "mb": round(total_bytes / MB, 2)},
        "skipped": skipped,
        "min_chars": MIN_CHARS,
        "seed": args.seed,
        "workers": args.workers,
        "elapsed_s": round(elapsed, 1),
    }


def print_summary(stats: dict) -> None:
    print(f"{'source':<28}{'docs':>8}{'MB':>10}")
    for source, entry in stats["sources"].items():
        print(f"{source:<28}{entry['docs']:>8,}{entry['mb']:>10.2f}")
    total = stats["total"]
    print(f"{'total':<28}{total['docs']:>8,}{total['mb']:>10.2f}")
    print(f"skipped: {stats['skipped']}; elapsed {stats['elapsed_s']:.0f} s")


# --- CLI ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, required=True, help="JSONL file to write")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="shuffle seed")
    parser.add_argument("--split", type=int, default=0, metavar="N",
                        help="also write the corpus as N files <stem>-00000.jsonl... beside it")
    parser.add_argument("--force", action="store_true", help="rebuild even if the output exists")
    return parser.parse_args(argv)


def build(args: argparse.Namespace) -> dict:
    start = time.monotonic()
    tasks = man_tasks() + html_tasks() + text_tasks()
    print(f"{len(tasks):,} source files; rendering with {args.workers} workers", file=sys.stderr)
    docs, skipped = collect(tasks, args.workers)
    docs.sort(key=lambda d: d["path"])  # order must not depend on filesystem listing order
    random.Random(args.seed).shuffle(docs)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(docs, args.output)
    stats = summarize(docs, skipped, time.monotonic() - start, args)
    args.output.with_suffix(".stats.json").write_text(json.dumps(stats, indent=2) + "\n")
    return stats


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.output.exists() and not args.force:
        print(f"{args.output} exists; not rebuilding (use --force)", file=sys.stderr)
    else:
        print_summary(build(args))
    if args.split > 0:
        outputs = split_jsonl(args.output, args.split)
        print(f"split into {len(outputs)} files: {outputs[0].name} .. {outputs[-1].name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
