"""Build sample_data/crawl/: two small gzip-per-record WARC files of real HTML pages, for the README's
`curate run --input 'sample_data/crawl/*.warc.gz' --config sample_data/web.yaml`.

The pages are the Python 3.11 documentation (PSF-2.0) and the PostgreSQL 15 documentation
(PostgreSQL licence), taken from the benchmark WARC that bench/web_corpus.py builds from Debian's
python3.11-doc and postgresql-doc-15 packages, unchanged, with their records' headers: the first 40
pages of each site between 8 and 60 KB. The last file also ends with the benchmark's 404 response and
its image/png response, which the reader quarantines.

    .venv/bin/python bench/web_corpus.py && .venv/bin/python bench/web_sample.py
"""

from __future__ import annotations

from pathlib import Path

from fastwarc import ArchiveIterator, GzipWriter, WarcRecordType

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "bench" / "data" / "web.warc.gz"
SITES = ("https://docs.python.org/", "https://www.postgresql.org/")
PER_SITE = 40


def main() -> None:
    chosen: dict[str, list] = {site: [] for site in SITES}
    bad = []
    with open(SOURCE, "rb") as fh:
        for record in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=False):
            uri = record.headers.get("WARC-Target-URI", "")
            site = next((s for s in SITES if uri.startswith(s)), None)
            record.freeze()
            if site and 8_000 <= record.content_length <= 60_000 and len(chosen[site]) < PER_SITE:
                chosen[site].append(record)
            elif uri.endswith((".png", "no/such/page.html")):
                bad.append(record)
    files = {"docs-00000.warc.gz": chosen[SITES[0]], "docs-00001.warc.gz": chosen[SITES[1]] + bad}
    for name, records in files.items():
        with open(ROOT / "sample_data" / "crawl" / name, "wb") as out:
            writer = GzipWriter(out)
            for record in records:
                record.write(writer)
                writer.finish()  # one gzip member per record, as Common Crawl's files
            writer.close()
        print(name, len(records), "records", (ROOT / "sample_data" / "crawl" / name).stat().st_size, "bytes")


if __name__ == "__main__":
    main()
