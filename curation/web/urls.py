"""URL filtering: blocklists of domains, hosts and URLs, and banned words in the URL.

RefinedWeb's first step (Penedo et al. 2023, section 3.1 and appendix G.1) and DataTrove's
``URLFilter``: a page is dropped by where it is, before anything is spent on its text. The lists are
the user's files (RefinedWeb used the 4.6M-domain UT1 blacklist; it cannot ship here); a small
example of each kind ships in ``curation/web/blocklists/`` and is used unless ``example_lists`` is
off. Every drop names its rule (the reason) and the list entry that matched (``url_match``, with
``url_list``, the file it came from).

Domains are matched on the host and each parent domain down to the registered one (tldextract with
its bundled public-suffix list, no network), so ``example.com`` blocks ``www.example.com`` and
``a.b.example.com`` but an entry ``co.uk`` can never block every British site.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from curation.document import Document
from curation.stage import CounterGroup, Dropped, Stage, StageResult

EXAMPLE_LISTS = Path(__file__).parent / "blocklists"
LISTS = ("domains", "hosts", "urls", "banned_words", "soft_banned_words", "banned_subwords")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


@lru_cache(maxsize=1)
def offline_tldextract() -> Any:
    """tldextract pinned to the public-suffix snapshot bundled in the wheel: no HTTP, no disk cache."""
    import tldextract

    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


class URLFilter(Stage):
    """Drop pages whose URL is on a blocklist or carries banned words.

    Each ``*_file`` is a text file of one entry per line (blank lines and ``#`` comments ignored),
    read once per process; with ``example_lists`` the bundled examples are added to the user's.

    Args:
        domains_file: Domains: a page on one, or on any subdomain of one, drops as ``blocked_domain``.
        hosts_file: Host names matched exactly (``blocked_host``): one site of a shared domain.
        urls_file: Whole URLs (``blocked_url``), compared normalised: scheme and host lower-case, no
            fragment, no default port, no trailing slash.
        banned_words_file: Words; one among the URL's words (split on non-alphanumerics) drops it as
            ``banned_word`` (RefinedWeb's hard-violation list).
        soft_banned_words_file: Words of which ``soft_word_threshold`` different ones in one URL drop
            it as ``soft_banned_words`` (RefinedWeb's soft list: one may be innocent, several are not).
        banned_subwords_file: Strings matched anywhere in the URL with its separators removed
            (``banned_subword``): words run together in a host name (``freexxxvideos``).
        soft_word_threshold: How many different soft words drop a URL; RefinedWeb and DataTrove use 2.
        example_lists: Also use the small example lists shipped in ``curation/web/blocklists``.
    """

    name = "url_filter"
    removed_columns = {"url_match": pa.string(), "url_list": pa.string()}
    file_params = tuple(f"{kind}_file" for kind in LISTS)
    counter_groups = (CounterGroup("url_filter/", "URL filter", "what", "count"),)

    def __init__(self, domains_file: str | None = None, hosts_file: str | None = None, urls_file: str | None = None,
                 banned_words_file: str | None = None, soft_banned_words_file: str | None = None,
                 banned_subwords_file: str | None = None, soft_word_threshold: int = 2, example_lists: bool = True):
        if soft_word_threshold < 1:
            raise ValueError(f"soft_word_threshold must be >= 1, got {soft_word_threshold}")
        files = dict(zip(LISTS, (domains_file, hosts_file, urls_file, banned_words_file, soft_banned_words_file,
                                 banned_subwords_file)))
        for kind, path in files.items():
            if path is not None and not Path(path).is_file():
                raise ValueError(f"{kind}_file not found: {path}")
        self.files = files
        self.soft_word_threshold = soft_word_threshold
        self.example_lists = example_lists
        self._lists: dict[str, dict[str, str]] | None = None
        self._subwords: re.Pattern[str] | None = None

    @property
    def lists(self) -> dict[str, dict[str, str]]:
        """Each kind's entries, each mapped to the file it came from."""
        if self._lists is None:
            lists: dict[str, dict[str, str]] = {kind: {} for kind in LISTS}
            for kind in LISTS:
                paths = ([EXAMPLE_LISTS / f"{kind}.txt"] if self.example_lists else []) + (
                    [Path(self.files[kind])] if self.files[kind] else [])
                for path in paths:
                    for entry in read_list(path):
                        key = normalise_url(entry) if kind == "urls" else entry.lower().rstrip(".")
                        lists[kind].setdefault(key, path.name)
            words = sorted(lists["banned_subwords"], key=lambda w: (-len(w), w))
            self._subwords = re.compile("|".join(re.escape(w) for w in words)) if words else None
            self._lists = lists
        return self._lists

    def process(self, batch: list[Document]) -> StageResult:
        result = StageResult([], [])
        for doc in batch:
            url = doc.attributes.get("url")
            if not url:
                result.counters["url_filter/no_url"] += 1
                result.kept.append(doc)
                continue
            verdict = self.check(url)
            if verdict is None:
                result.kept.append(doc)
                continue
            reason, match, list_name = verdict
            result.dropped.append(Dropped(doc, self.name, reason, {"url_match": match,
                                                                   "url_list": list_name}))
        return result

    def check(self, url: str) -> tuple[str, str, str] | None:
        """``(reason, entry, list file)`` of the first rule ``url`` breaks, or None."""
        lists = self.lists
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".")
        if host in lists["hosts"]:
            return "blocked_host", host, lists["hosts"][host]
        for domain in parent_domains(host):
            if domain in lists["domains"]:
                return "blocked_domain", domain, lists["domains"][domain]
        normal = normalise_url(url)
        if normal in lists["urls"]:
            return "blocked_url", normal, lists["urls"][normal]
        words = set(_NOT_ALNUM.split(url.lower()))
        hard = sorted(words & lists["banned_words"].keys())
        if hard:
            return "banned_word", hard[0], lists["banned_words"][hard[0]]
        soft = sorted(words & lists["soft_banned_words"].keys())
        if len(soft) >= self.soft_word_threshold:
            return "soft_banned_words", " ".join(soft), lists["soft_banned_words"][soft[0]]
        if self._subwords is not None:
            found = self._subwords.search(_NOT_ALNUM.sub("", url.lower()))
            if found:
                return "banned_subword", found.group(), lists["banned_subwords"][found.group()]
        return None

    def run_notes(self, counters: Mapping[str, int]) -> list[str]:
        if any(self.files.values()):
            return []
        if not self.example_lists:
            return ["url_filter: no blocklist given; it checked nothing"]
        size = sum(len(entries) for entries in self.lists.values())
        return [f"url_filter: only the bundled example lists ({size} entries) were used; give domains_file, "
                "banned_words_file etc. for a real crawl (RefinedWeb used the UT1 blacklist)"]

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_lists": None, "_subwords": None}  # read again where it runs


def read_list(path: Path) -> list[str]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].strip()
        if entry:
            entries.append(entry)
    return entries


def parent_domains(host: str) -> list[str]:
    """``host`` and its parents down to its registered domain (``a.b.example.co.uk`` ... ``example.co.uk``);
    an IP address or a host with no public suffix is only itself."""
    if not host:
        return []
    registered = offline_tldextract()(host).top_domain_under_public_suffix
    if not registered or not host.endswith(registered):
        return [host]
    labels = host[: len(host) - len(registered)].rstrip(".").split(".") if host != registered else []
    return [".".join(labels[i:] + [registered]) for i in range(len(labels))] + [registered]


def normalise_url(url: str) -> str:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").rstrip(".")
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, default) else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), parts.query, ""))
