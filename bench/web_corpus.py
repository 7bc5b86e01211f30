"""Build the web-extraction benchmark input: real HTML pages packed as a Common-Crawl-like WARC.

Main-text extraction (HTML -> text) is benchmarked on ``bench/data/web.warc.gz``: one ``warcinfo``
record, then one HTTP ``response`` record per real HTML page, then a few records that a reader
must skip or quarantine. Pages come from packages fetched with the ordinary clients (no other
network), cached under ``bench/data/web_sources/``:

* ``pypi:trafilatura``  the real web pages in Trafilatura's sdist ``tests/resources/`` (news,
                        blogs, a scam page, Mozilla, ...). Its git repository also has a
                        ``tests/cache/`` of evaluation pages, but the sdists do not ship it.
* ``pypi:newspaper4k``  the real news pages of newspaper4k's sdist ``tests/data/html/`` (CNN,
                        Wired, BBC Burmese, Nikkei, Thai, Arabic, ...; up to 2.9 MB a page).
* ``deb:<package>``     Debian HTML documentation, ``apt-get download`` + ``dpkg-deb -x`` (no
                        root): Sphinx (Python), DocBook (PostgreSQL, Debian Reference), the Apache
                        manual in 12 languages (UTF-8, EUC-KR, ISO-8859-1 pages), AsciiDoc (Git).
                        Navigation bars, sidebars, footers and index pages: extraction matters.

Each page's bytes go into the WARC unchanged (``.html.gz`` files are gunzipped; symlinks and pages
whose bytes were already seen are skipped). HTTP headers are ``HTTP/1.1 200 OK`` with
``Content-Type: text/html; charset=<the page's own meta charset, else utf-8>``; the WARC record
has ``WARC-Identified-Payload-Type`` as Common Crawl's do, a ``WARC-Target-URI`` derived from the
page's origin (https://docs.python.org/3.11/library/os.html, ...; a web page's own canonical /
og:url when it has one), a fixed ``WARC-Date`` and ``WARC-Record-ID = uuid5(URL namespace, URI)``,
so the same sources give the same bytes every build. Records are gzipped one member each
(WARC/1.1, block and payload digests), interleaved round-robin across sources so that the first N
records of the file already mix every layout.

After the pages: a 404 response (an HTML error page), an ``image/png`` response, a ``request``
record and a ``metadata`` record. The manifest (``web.sources.json`` beside the WARC) gives per
source the package, its version, licence, page count and bytes, plus these bad records.

    .venv/bin/python bench/web_corpus.py [--out bench/data/web.warc.gz] [--limit N] [--cache DIR]

Needs apt-get (with package lists: ``apt-get update`` once), dpkg-deb and pip; FastWARC 2.x.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import hashlib
import json
import re
import struct
import subprocess
import sys
import tarfile
import time
import uuid
import zlib
from pathlib import Path

from fastwarc import GzipWriter
from fastwarc.warc import WarcRecord, WarcRecordType

BENCH = Path(__file__).resolve().parent
DEFAULT_OUT = BENCH / "data" / "web.warc.gz"
DEFAULT_CACHE = BENCH / "data" / "web_sources"

WARC_DATE = "2024-06-01T00:00:00Z"  # fixed, so builds are byte-identical
HTTP_DATE = "Sat, 01 Jun 2024 00:00:00 GMT"
SOFTWARE = "bench/web_corpus.py (FastWARC)"

# PyPI sdists, pinned so that the corpus does not move when upstream releases.
# name -> (version, member regex inside the sdist, licence of the package, fallback URI base)
PYPI_SOURCES = {
    "trafilatura": ("2.3.1", r"^[^/]+/tests/resources/[^/]+\.html?(\.gz)?$", "Apache-2.0",
                    "https://trafilatura.test/tests/resources/"),
    "newspaper4k": ("0.9.6", r"^[^/]+/tests/data/html/[^/]+\.html?(\.gz)?$", "MIT",
                    "https://newspaper4k.test/tests/data/html/"),
}

# Debian packages: (candidate package names, first available wins) -> (root inside the package,
# URI base the root maps to, licence as in the package's copyright file). The deb's own version
# is read from the .deb and goes into the manifest.
DEB_SOURCES = [
    (["python3.11-doc", "python3.13-doc", "python3.12-doc"],
     {"python3.11-doc": ("usr/share/doc/python3.11/html", "https://docs.python.org/3.11/"),
      "python3.12-doc": ("usr/share/doc/python3.12/html", "https://docs.python.org/3.12/"),
      "python3.13-doc": ("usr/share/doc/python3.13/html", "https://docs.python.org/3.13/")},
     "PSF-2.0 (Python documentation licence)"),
    (["postgresql-doc-15", "postgresql-doc-17", "postgresql-doc-16"],
     {"postgresql-doc-15": ("usr/share/doc/postgresql-doc-15/html", "https://www.postgresql.org/docs/15/"),
      "postgresql-doc-16": ("usr/share/doc/postgresql-doc-16/html", "https://www.postgresql.org/docs/16/"),
      "postgresql-doc-17": ("usr/share/doc/postgresql-doc-17/html", "https://www.postgresql.org/docs/17/")},
     "PostgreSQL"),
    (["apache2-doc"],
     {"apache2-doc": ("usr/share/doc/apache2-doc/manual", "https://httpd.apache.org/docs/2.4/")},
     "Apache-2.0"),
    (["git-doc"],
     {"git-doc": ("usr/share/doc/git-doc", "https://mirrors.edge.kernel.org/pub/software/scm/git/docs/")},
     "GPL-2"),
    (["debian-reference-en"],
     {"debian-reference-en": ("usr/share/debian-reference", "https://www.debian.org/doc/manuals/debian-reference/")},
     "GPL-2+"),
]

PAGE_NAME = re.compile(r"\.html?(\.gz)?$", re.IGNORECASE)
# charset as the page declares it: <meta charset=...> or <meta http-equiv content="...charset=...">
META_CHARSET = re.compile(rb"<meta\b[^>]*?charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)
XML_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)", re.IGNORECASE)
HEAD_END = re.compile(rb"</head\s*>|<body\b", re.IGNORECASE)
# a web page's own address: canonical link or og:url (attribute order varies)
CANONICAL = [
    re.compile(rb"<link\b[^>]*\brel\s*=\s*[\"']?canonical[\"']?[^>]*\bhref\s*=\s*[\"']([^\"'>\s]+)", re.IGNORECASE),
    re.compile(rb"<link\b[^>]*\bhref\s*=\s*[\"']([^\"'>\s]+)[\"'][^>]*\brel\s*=\s*[\"']?canonical", re.IGNORECASE),
    re.compile(rb"<meta\b[^>]*\bproperty\s*=\s*[\"']og:url[\"'][^>]*\bcontent\s*=\s*[\"']([^\"'>\s]+)", re.IGNORECASE),
    re.compile(rb"<meta\b[^>]*\bcontent\s*=\s*[\"']([^\"'>\s]+)[\"'][^>]*\bproperty\s*=\s*[\"']og:url", re.IGNORECASE),
]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- fetching into the cache -------------------------------------------------------------------

def fetch_sdist(name: str, version: str, cache: Path) -> Path:
    dest = cache / "pypi"
    for pattern in (f"{name}-{version}.tar.gz", f"{name.replace('-', '_')}-{version}.tar.gz"):
        if (dest / pattern).exists():
            return dest / pattern
    dest.mkdir(parents=True, exist_ok=True)
    log(f"pip download {name}=={version} (sdist)")
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-binary", ":all:", "--no-deps",
                    f"{name}=={version}", "-d", str(dest)], check=True)
    found = [p for stem in (name.replace("-", "_"), name) for p in sorted(dest.glob(f"{stem}-{version}.tar.gz"))]
    if not found:
        raise SystemExit(f"pip download of {name}=={version} left no sdist in {dest}")
    return found[0]


def fetch_deb(candidates: list[str], cache: Path) -> tuple[str, Path] | None:
    dest = cache / "deb"
    dest.mkdir(parents=True, exist_ok=True)
    for pkg in candidates:  # a cached .deb wins, so a rebuild does not move with the archive
        cached = sorted(dest.glob(f"{pkg}_*.deb"))
        if cached:
            return pkg, cached[-1]
    for pkg in candidates:
        log(f"apt-get download {pkg}")
        done = subprocess.run(["apt-get", "download", pkg], cwd=dest, capture_output=True, text=True)
        cached = sorted(dest.glob(f"{pkg}_*.deb"))
        if done.returncode == 0 and cached:
            return pkg, cached[-1]
        why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"
        log(f"  {pkg}: not available ({why})")
    log(f"none of {candidates} could be downloaded (run `apt-get update` once?); source skipped")
    return None


def unpack_deb(pkg: str, deb: Path, cache: Path) -> Path:
    tree = cache / "tree" / deb.stem
    if not (tree / ".unpacked").exists():
        tree.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(deb), str(tree)], check=True)
        (tree / ".unpacked").write_text(deb.name + "\n")
    return tree


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True,
                          check=True).stdout.strip()


# --- pages -----------------------------------------------------------------------------------------

def declared_charset(page: bytes) -> str | None:
    head = page[:65536]
    end = HEAD_END.search(head)
    if end:
        head = head[:end.start()]
    for rx in (META_CHARSET, XML_ENCODING):
        m = rx.search(head)
        if m:
            name = m.group(1).decode("ascii", "replace").strip().rstrip(";")
            try:
                codecs.lookup(name)
            except LookupError:
                continue
            return name
    return None


def own_url(page: bytes) -> str | None:
    head = page[:262144]
    for rx in CANONICAL:
        m = rx.search(head)
        if m:
            url = m.group(1).decode("utf-8", "replace").replace("&amp;", "&")
            if url.startswith(("http://", "https://")):
                return url
    return None


def read_page(raw: bytes, name: str) -> bytes:
    return gzip.decompress(raw) if name.lower().endswith(".gz") else raw


def strip_gz(rel: str) -> str:
    return rel[:-3] if rel.lower().endswith(".gz") else rel


def sdist_pages(name: str, version: str, member_rx: str, fallback_base: str, cache: Path) -> list[dict]:
    path = fetch_sdist(name, version, cache)
    rx = re.compile(member_rx, re.IGNORECASE)
    pages = []
    with tarfile.open(path) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not member.isfile() or not rx.search(member.name):
                continue
            body = read_page(tar.extractfile(member).read(), member.name)
            rel = member.name.split("/", 1)[1]
            base_name = strip_gz(member.name.rsplit("/", 1)[1])
            pages.append({"rel": rel, "body": body, "url": own_url(body) or fallback_base + base_name})
    return pages


def deb_pages(tree: Path, root: str, base: str) -> list[dict]:
    top = tree / root
    pages = []
    for path in sorted(top.rglob("*")):
        if path.is_symlink() or not path.is_file() or not PAGE_NAME.search(path.name):
            continue
        rel = path.relative_to(top).as_posix()
        pages.append({"rel": rel, "body": read_page(path.read_bytes(), path.name), "url": base + strip_gz(rel)})
    return pages


def collect(cache: Path) -> tuple[list[dict], list[list[dict]]]:
    """Every source's metadata and its pages, sources in a fixed order, pages in path order."""
    sources, page_lists = [], []
    for name, (version, member_rx, licence, fallback) in PYPI_SOURCES.items():
        pages = sdist_pages(name, version, member_rx, fallback, cache)
        sources.append({"source": f"pypi:{name}", "package": name, "version": version, "licence": licence,
                        "note": "the package's licence; the pages are third-party web pages kept as test fixtures"})
        page_lists.append(pages)
    for candidates, roots, licence in DEB_SOURCES:
        got = fetch_deb(candidates, cache)
        if got is None:
            continue
        pkg, deb = got
        root, base = roots[pkg]
        tree = unpack_deb(pkg, deb, cache)
        sources.append({"source": f"deb:{pkg}", "package": pkg, "version": deb_version(deb), "licence": licence,
                        "deb": deb.name, "uri_base": base})
        page_lists.append(deb_pages(tree, root, base))
    return sources, page_lists


def interleave(page_lists: list[list[dict]], sources: list[dict]) -> list[dict]:
    out, cursors = [], [0] * len(page_lists)
    while any(c < len(p) for c, p in zip(cursors, page_lists)):
        for i, pages in enumerate(page_lists):
            if cursors[i] < len(pages):
                out.append(pages[cursors[i]] | {"source": sources[i]["source"]})
                cursors[i] += 1
    return out


# --- WARC records ------------------------------------------------------------------------------

def record_id(key: str) -> bytes:
    return f"uuid:{uuid.uuid5(uuid.NAMESPACE_URL, key)}".encode()


def new_record(rtype, key: str, uri: str | None) -> WarcRecord:
    rec = WarcRecord()
    rec.init_headers(rtype, record_id(key))
    rec.headers["WARC-Date"] = WARC_DATE
    if uri is not None:
        rec.headers["WARC-Target-URI"] = uri
    return rec


def http_response(uri: str, status: str, content_type: str, body: bytes, payload_type: str | None,
                  key: str | None = None) -> WarcRecord:
    rec = new_record(WarcRecordType.response, key or uri, uri)
    rec.headers["Content-Type"] = "application/http; msgtype=response"
    rec.is_http = True  # the header alone does not flag it; without the flag no WARC-Payload-Digest
    if payload_type:
        rec.headers["WARC-Identified-Payload-Type"] = payload_type
    head = (f"HTTP/1.1 {status}\r\nDate: {HTTP_DATE}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    rec.set_bytes_content(head + body)
    rec.parse_http()  # so that write(checksum_data=True) adds WARC-Payload-Digest too
    return rec


def warcinfo(filename: str, pages: int) -> WarcRecord:
    rec = new_record(WarcRecordType.warcinfo, f"warcinfo:{filename}", None)
    rec.headers["WARC-Filename"] = filename
    rec.headers["Content-Type"] = "application/warc-fields"
    rec.set_bytes_content((f"software: {SOFTWARE}\r\nformat: WARC File Format 1.1\r\n"
                           "conformsTo: https://iipc.github.io/warc-specifications/specifications/"
                           "warc-format/warc-1.1/\r\n"
                           f"description: real HTML pages from PyPI sdists and Debian documentation packages, "
                           f"{pages} pages, for main-text extraction benchmarks\r\n").encode())
    return rec


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


def bad_records() -> list[tuple[str, WarcRecord]]:
    """Records a reader must skip or quarantine: none of them is a page to extract."""
    not_found = (b"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>404 Not Found</title></head>\n"
                 b"<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p>\n"
                 b"<hr><address>Apache/2.4.62 (Debian) Server at www.example.org Port 443</address></body></html>\n")
    missing = "https://www.example.org/no/such/page.html"
    out = [("http_404", http_response(missing, "404 Not Found", "text/html; charset=utf-8", not_found, "text/html")),
           ("image_png", http_response("https://www.example.org/pixel.png", "200 OK", "image/png", tiny_png(),
                                      "image/png"))]
    req = new_record(WarcRecordType.request, f"request:{missing}", missing)
    req.headers["Content-Type"] = "application/http; msgtype=request"
    req.is_http = True
    req.set_bytes_content(b"GET /no/such/page.html HTTP/1.1\r\nHost: www.example.org\r\n"
                          b"User-Agent: bench-web-corpus/1.0\r\nAccept: text/html\r\n\r\n")
    out.append(("request", req))
    meta = new_record(WarcRecordType.metadata, f"metadata:{missing}", missing)
    meta.headers["Content-Type"] = "application/warc-fields"
    meta.set_bytes_content(b"fetchTimeMs: 112\r\ncharset-detected: UTF-8\r\n")
    out.append(("metadata", meta))
    return out


# --- build -------------------------------------------------------------------------------------

def build(out: Path, cache: Path, limit: int | None) -> dict:
    t0 = time.perf_counter()
    sources, page_lists = collect(cache)
    ordered = interleave(page_lists, sources)

    seen_bytes: set[bytes] = set()
    seen_uris: dict[str, int] = {}
    stats = {s["source"]: {"pages": 0, "bytes": 0, "duplicates_skipped": 0, "charsets": {}} for s in sources}
    chosen = []
    for page in ordered:
        st = stats[page["source"]]
        digest = hashlib.sha1(page["body"]).digest()
        if digest in seen_bytes:
            st["duplicates_skipped"] += 1
            continue
        if limit is not None and len(chosen) >= limit:
            break
        seen_bytes.add(digest)
        uri = page["url"]
        if uri in seen_uris:  # two different pages claiming one address (e.g. a shared canonical)
            seen_uris[uri] += 1
            uri = f"{uri}{'&' if '?' in uri else '?'}variant={seen_uris[page['url']]}"
        seen_uris.setdefault(uri, 1)
        charset = declared_charset(page["body"]) or "utf-8"
        chosen.append((page, uri, charset))
        st["pages"] += 1
        st["bytes"] += len(page["body"])
        st["charsets"][charset.lower()] = st["charsets"].get(charset.lower(), 0) + 1

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    bad = bad_records()
    with open(tmp, "wb") as fh:
        writer = GzipWriter(fh)
        warcinfo(out.name, len(chosen)).write(writer, checksum_data=True)
        writer.finish()  # one gzip member per record
        for page, uri, charset in chosen:
            payload_type = "application/xhtml+xml" if page["body"].lstrip()[:5] == b"<?xml" else "text/html"
            rec = http_response(uri, "200 OK", f"text/html; charset={charset}", page["body"], payload_type)
            rec.write(writer, checksum_data=True)
            writer.finish()
        for _, rec in bad:
            rec.write(writer, checksum_data=True)
            writer.finish()
        writer.close()
    tmp.replace(out)

    total_pages = sum(s["pages"] for s in stats.values())
    total_bytes = sum(s["bytes"] for s in stats.values())
    manifest = {
        "warc": out.name, "warc_bytes": out.stat().st_size, "warc_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "warc_date": WARC_DATE, "limit": limit, "pages": total_pages, "page_bytes": total_bytes,
        "records": 1 + total_pages + len(bad),
        "sources": [s | {k: v for k, v in stats[s["source"]].items()} for s in sources],
        "bad_records": {"count": len(bad), "kinds": [k for k, _ in bad],
                        "note": "after the pages: a 404 HTML response, an image/png response, a request and a metadata "
                                "record; none is a page to extract"},
        "seconds": round(time.perf_counter() - t0, 2),
    }
    manifest_path = out.with_name(out.name.removesuffix(".warc.gz").removesuffix(".warc") + ".sources.json")
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
    for s in manifest["sources"]:
        log(f"{s['source']:<26} {s['version']:<28} {s['pages']:>6} pages {s['bytes'] / 1e6:>8.2f} MB"
            f"  (dup skipped {s['duplicates_skipped']})")
    log(f"{'total':<26} {'':<28} {total_pages:>6} pages {total_bytes / 1e6:>8.2f} MB"
        f"  + {len(bad)} bad records -> {out} ({manifest['warc_bytes'] / 1e6:.2f} MB gz), {manifest_path.name}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="WARC to write (default: %(default)s)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="downloads (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="at most N pages (a quick small build)")
    args = parser.parse_args(argv)
    manifest = build(args.out, args.cache, args.limit)
    print(json.dumps({k: manifest[k] for k in ("warc", "pages", "page_bytes", "warc_bytes", "records", "seconds")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
