"""URL filtering: each rule drops with its reason and the list entry that matched, and only those."""

from __future__ import annotations

import pytest

from curation.document import Document
from curation.web.urls import URLFilter, normalise_url, parent_domains


def doc(doc_id: str, url: str | None) -> Document:
    return Document(doc_id, "Some page text.", "crawl.warc.gz", {"url": url} if url else {})


@pytest.fixture()
def lists(tmp_path):
    files = {
        "domains_file": "# domains\nblocked.example.com\nspam.co.uk\nco.uk\n",
        "hosts_file": "only-this.shared.example.org\n",
        "urls_file": "HTTPS://News.Example.net:443/story/42/#comments\n",
        "banned_words_file": "forbidden\n",
        "soft_banned_words_file": "cheap\npills\nwatches\n",
        "banned_subwords_file": "badword\n",
    }
    for name, text in files.items():
        (tmp_path / f"{name}.txt").write_text(text)
    return {name: str(tmp_path / f"{name}.txt") for name in files}


def test_every_rule_names_its_entry_and_list(lists):
    stage = URLFilter(**lists, example_lists=False)
    batch = [
        doc("domain", "https://www.blocked.example.com/page"),
        doc("subdomain", "http://a.b.spam.co.uk/x"),
        doc("host", "https://only-this.shared.example.org/"),
        doc("url", "https://news.example.net/story/42"),
        doc("word", "https://site.example/forbidden-things/list"),
        doc("soft", "https://shop.example/cheap/pills"),
        doc("subword", "https://freebadwordvideos.example/"),
        # Kept: one soft word alone, the host's sibling, a word inside another word, a public suffix
        # entry (co.uk) that must never block every British site, no URL at all.
        doc("one soft word", "https://news.example/cheap-flights-are-back"),
        doc("sibling host", "https://other.shared.example.org/"),
        doc("inside a word", "https://site.example/unforbiddenness"),
        doc("public suffix", "https://www.bbc.co.uk/news"),
        doc("no url", None),
    ]
    result = stage(batch)
    dropped = {d.doc.id: (d.reason, d.extra["url_match"], d.extra["url_list"]) for d in result.dropped}
    assert dropped == {
        "domain": ("blocked_domain", "blocked.example.com", "domains_file.txt"),
        "subdomain": ("blocked_domain", "spam.co.uk", "domains_file.txt"),
        "host": ("blocked_host", "only-this.shared.example.org", "hosts_file.txt"),
        "url": ("blocked_url", "https://news.example.net/story/42", "urls_file.txt"),
        "word": ("banned_word", "forbidden", "banned_words_file.txt"),
        "soft": ("soft_banned_words", "cheap pills", "soft_banned_words_file.txt"),
        "subword": ("banned_subword", "badword", "banned_subwords_file.txt"),
    }
    assert [d.id for d in result.kept] == ["one soft word", "sibling host", "inside a word", "public suffix", "no url"]
    assert result.counters["url_filter/no_url"] == 1


def test_the_example_lists_ship_and_add_to_the_users(lists):
    stage = URLFilter(banned_words_file=lists["banned_words_file"])
    assert stage.check("https://testsafebrowsing.appspot.com/s/malware.html")[:2] == ("blocked_domain",
                                                                                      "testsafebrowsing.appspot.com")
    assert stage.check("https://site.example/forbidden")[0] == "banned_word"
    assert stage.run_notes({}) == []
    only_examples = URLFilter()
    assert "only the bundled example lists" in only_examples.run_notes({})[0]
    assert URLFilter(example_lists=False).check("https://testsafebrowsing.appspot.com/") is None
    assert URLFilter(example_lists=False).run_notes({}) == ["url_filter: no blocklist given; it checked nothing"]


def test_threshold_and_missing_files(lists, tmp_path):
    one = URLFilter(soft_banned_words_file=lists["soft_banned_words_file"], soft_word_threshold=1, example_lists=False)
    assert one.check("https://news.example/cheap-flights")[:2] == ("soft_banned_words", "cheap")
    with pytest.raises(ValueError, match="domains_file not found"):
        URLFilter(domains_file=str(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match="soft_word_threshold"):
        URLFilter(soft_word_threshold=0)


def test_helpers():
    assert parent_domains("a.b.example.co.uk") == ["a.b.example.co.uk", "b.example.co.uk", "example.co.uk"]
    assert parent_domains("192.168.0.1") == ["192.168.0.1"] and parent_domains("") == []
    assert normalise_url("HTTP://Example.COM:80/a/b/?q=1#frag") == "http://example.com/a/b?q=1"
    assert normalise_url("https://example.com:8443/") == "https://example.com:8443"
