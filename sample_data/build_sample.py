#!/usr/bin/env python3
"""Build the bundled sample corpus ``sample_data/corpus.jsonl.gz``.

Real, permissively licensed documentation text installed from Debian
packages (Python, PostgreSQL and bzip2 manuals) is mixed with
deterministic synthetic junk, exact/near duplicates and Faker-generated PII,
so that the quality-filter, dedup and PII-redaction stages all have labelled
positives and negatives to work on.  See ``sample_data/README.md``.

    .venv/bin/python sample_data/build_sample.py

The output is byte-identical across runs given the same installed package
versions (EXPECTED_PACKAGES) and Faker version (EXPECTED_FAKER); a mismatch
is reported on stderr but does not stop the build.
"""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import random
import re
import string
import subprocess
import sys
import unicodedata
from collections import Counter
from pathlib import Path

import faker
from faker.providers.lorem.la import Provider as LatinLorem
from lxml import etree, html

OUT_PATH = Path(__file__).resolve().parent / "corpus.jsonl.gz"
SEED = "curation-sample-v1"  # str seeds hash deterministically (no PYTHONHASHSEED effect)

# --------------------------------------------------------------------------
# Sources (sizes as seen on Debian 12 with the versions below)
# --------------------------------------------------------------------------
EXPECTED_PACKAGES = {
    "python3.11-doc": "3.11.2-6+deb12u9",
    "postgresql-doc-15": "15.20-0+deb12u1",
    "bzip2-doc": "1.0.8-5",
}
EXPECTED_FAKER = "40.63.0"

# python3-doc: 530 .html pages, 67 MB of HTML -> 2,544 fragments, 9.0 M chars.
PYTHON_DOC_HTML = Path("/usr/share/doc/python3.11/html")
# Index, search, legal and link-list pages carry no prose; the changelog is
# ~5 MB of one-line bug entries that would swamp the sample.
PYTHON_DOC_SKIP = re.compile(
    r"^(genindex.*|py-modindex|search|contents|copyright|license|download|index"
    r"|whatsnew/changelog)\.html$"
)
# postgresql-doc-15: 1,173 .html pages, 18 MB of HTML -> 1,726 fragments, 6.2 M chars.
POSTGRES_DOC_HTML = Path("/usr/share/doc/postgresql-doc-15/html")
# The index and legal notice carry no prose; the release notes are one-line
# change entries ending in contributor names, like Python's changelog; the
# keyword appendix is one 836-row table of keywords and "reserved" flags.
POSTGRES_DOC_SKIP = re.compile(r"^(index|bookindex|legalnotice|release(-.*)?|sql-keywords-appendix)\.html$")
# bzip2-doc: the one-page bzip2/libbzip2 manual, 127 KB of HTML -> 29 fragments, 73 K chars.
BZIP2_DOC_HTML = Path("/usr/share/doc/bzip2")

# --------------------------------------------------------------------------
# How much of each source to keep
# --------------------------------------------------------------------------
# Pages longer than this are split into their sections (recursively).
MAX_DOC_CHARS = 12_000
# Fragments shorter than this (stub sections, toctree-only pages) are dropped.
MIN_DOC_CHARS = 400
N_PYTHON_DOC = 2_000  # of 2,544 fragments
N_POSTGRES_DOC = 556  # of 1,726 fragments
N_BZIP2_DOC = None  # None = all (29)

# --------------------------------------------------------------------------
# Synthetic additions (counts chosen for ~74% human originals, ~18% junk,
# ~3% exact and ~5% near duplicates of a ~3,500-document corpus)
# --------------------------------------------------------------------------
N_JUNK = {
    "junk:nav": 110,
    "junk:seo": 80,
    "junk:spam": 100,
    "junk:gibberish": 90,
    "junk:lorem": 90,
    "junk:repetitive": 80,
    "junk:numbers": 80,
}
N_EXACT_DUP = 105
N_NEAR_DUP = 175
# Near-dup edits, cycled in order.  rate = fraction of words touched (a swap
# touches two); the record also gets n = number of operations applied.
NEAR_DUP_EDITS = (
    {"op": "word_swap", "rate": 0.01},
    {"op": "word_swap", "rate": 0.05},
    {"op": "word_swap", "rate": 0.10},
    {"op": "word_delete", "rate": 0.01},
    {"op": "word_delete", "rate": 0.05},
    {"op": "word_delete", "rate": 0.10},
    {"op": "word_insert", "rate": 0.02},
    {"op": "word_insert", "rate": 0.05},
    {"op": "add_header"},
    {"op": "add_footer"},
    {"op": "date_line"},
)
# Fixed range: Faker's relative dates ("-5y") would change the output daily.
DATE_RANGE = (datetime.date(2019, 1, 1), datetime.date(2024, 12, 31))
NEAR_DUP_MIN_WORDS = 100  # below this a 1% rate is meaningless (min. 1 edit)
INSERT_WORDS = ("the", "also", "very", "just", "really", "simply", "new", "generally", "often", "still")

N_PII_DOCS = 260  # ~10% of the human originals
PII_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR")
PII_SENTENCES_PER_DOC = (1, 3)  # inclusive range
# {field} names the entity type; a "_2" suffix lets a template use a type twice.
PII_TEMPLATES = (
    "Contact {name} at {email} or {phone}.",
    "For questions about this section, write to {name} <{email}>.",
    "Questions? Call {name} on {phone}.",
    "This example was tested by {name} ({email}) on a host at {ipv4}.",
    "The staging server listens on {ipv4}, with the IPv6 address {ipv6}.",
    "If the mirror at {ipv6} is unreachable, contact {email}.",
    "Reported by {name}, {email}, from {ipv4}.",
    "Invoice paid by {name} with card {credit_card}, expiry 09/27.",
    "Customer record: {name}, SSN {ssn}, phone {phone}.",
    "Please transfer the membership fee to IBAN {iban} (account holder: {name}).",
    "The internal package index is at {url_credentials}.",
    "Clone the fork with git clone {url_credentials} and rebuild.",
    "export AWS_ACCESS_KEY_ID={aws_access_key}",
    "The deploy job used the key {aws_access_key} until {name} rotated it; ping {name_2} if it fails.",
)
AWS_KEY_ALPHABET = string.ascii_uppercase + "234567"  # AKIA + 16 base32 characters

# --------------------------------------------------------------------------
# HTML -> text
# --------------------------------------------------------------------------
PARA, LINE, BULLET = "\x00", "\x01", "\x04"  # markers resolved in _finish()
VERBATIM = "\x02{}\x03"  # placeholder for <pre>/<table> text kept as-is
SKIP_TAGS = frozenset({"head", "script", "style", "nav", "form", "footer", "img"})
# Permalink pilcrows, tables of contents, Sphinx sidebars and link bars,
# DocBook's Prev/Up/Next navigation header and footer tables, and DocBook's
# page-end footnote block (it would land in whichever fragment is the intro).
SKIP_CLASSES = frozenset(
    {"headerlink", "toctree-wrapper", "toc", "navheader", "navfooter", "related",
     "sphinxsidebar", "footnotes"}
)
# Sphinx marks sections with <section>; DocBook's HTML uses <div class="sect2">,
# <div class="refsect1"> etc.  (The refentry synopsis stays in the intro.)
DOCBOOK_SECTION_CLASSES = frozenset(
    {"sect1", "sect2", "sect3", "sect4", "sect5", "refsect1", "refsect2", "refsect3"}
)
# PostgreSQL's function and catalog tables have a single column whose
# paragraphs are really cells: signature | description | example(s), or
# column name and type | description.
STACKED_CELL_CLASSES = frozenset({"func_table_entry", "catalog_table_entry"})
PARA_TAGS = frozenset(
    {"p", "div", "section", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "dl", "dd",
     "blockquote", "figure", "hr", "caption"}
)
LINE_TAGS = frozenset({"li", "br", "dt", "tr"})


def _tag(el) -> str | None:
    """Local tag name (DocBook pages are namespaced XHTML); None for comments/PIs."""
    return etree.QName(el).localname if isinstance(el.tag, str) else None


def _classes(el) -> set[str]:
    return set((el.get("class") or "").split())


def _is_skipped(el) -> bool:
    tag, classes = _tag(el), _classes(el)
    # DocBook's "[2]" footnote markers point into the skipped footnote block.
    return tag in SKIP_TAGS or bool(classes & SKIP_CLASSES) or (tag == "sup" and "footnote" in classes)


def _is_section(el) -> bool:
    tag = _tag(el)
    return tag == "section" or (tag == "div" and bool(_classes(el) & DOCBOOK_SECTION_CLASSES))


def _table_text(table) -> str:
    """One line per row, cells joined by ' | ' (how most extractors flatten tables)."""
    rows = []
    for tr in table.iter("{*}tr"):
        cells = []
        for td in tr:
            if _tag(td) not in ("td", "th"):
                continue
            if _classes(td) & STACKED_CELL_CLASSES:
                cells += [render(block) for block in td if _tag(block)]
            else:
                cells.append(render(td))
        cells = [" ".join(c.split()) for c in cells]
        cells = [c for c in cells if c]  # icon-only cells
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _block_mark(el, tag: str) -> str | None:
    """Boundary marker around a block element; None for inline elements."""
    parent = el.getparent()
    if tag in LINE_TAGS or (tag == "p" and parent is not None and _tag(parent) == "li"):
        return LINE  # list-item paragraphs stay tight under their bullet
    return PARA if tag in PARA_TAGS else None


def _walk(el, parts: list[str], verbatim: list[str], skip) -> None:
    """Append el's text to ``parts``: inline text as-is, block boundaries as
    markers, <pre> and data tables as placeholders into ``verbatim``."""
    tag = _tag(el)
    if tag is not None and not _is_skipped(el) and el not in skip:
        if tag in ("pre", "table"):
            block = "".join(el.itertext()) if tag == "pre" else _table_text(el)
            verbatim.append(block.strip("\n").rstrip())
            parts += [PARA, VERBATIM.format(len(verbatim) - 1), PARA]
        else:
            mark = _block_mark(el, tag)
            if mark:
                parts.append(mark)
            if tag == "li":
                parts.append(BULLET)
            if el.text:
                parts.append(el.text)
            for child in el:
                _walk(child, parts, verbatim, skip)
            if mark:
                parts.append(mark)
    if el.tail:
        parts.append(el.tail)


def _finish(parts: list[str], verbatim: list[str]) -> str:
    """Collapse inline whitespace, resolve block markers, restore verbatim blocks."""
    text = re.sub(r"[ \t\r\n]+", " ", "".join(parts))
    text = re.sub(r"\x04[ \x00\x01]*", "- ", text)  # bullet hugs its first block
    text = re.sub(
        r" *([\x00\x01][ \x00\x01]*)",
        lambda m: "\n\n" if PARA in m.group(1) else "\n",
        text,
    )
    text = re.sub(r"\x02(\d+)\x03", lambda m: verbatim[int(m.group(1))], text)
    return tidy(text)


def render(el, skip=frozenset()) -> str:
    """Main-content text of an element; ``skip`` holds sub-elements to leave out."""
    parts: list[str] = []
    verbatim: list[str] = []
    tail, el.tail = el.tail, None  # the element's own tail lies outside it
    _walk(el, parts, verbatim, skip)
    el.tail = tail
    return _finish(parts, verbatim)


def tidy(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines."""
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n")


def _child_sections(el) -> list:
    """Nearest descendant sections of ``el`` (not nested in another one)."""
    found = []
    for child in el:
        if _tag(child) is None or _is_skipped(child):
            continue
        found += [child] if _is_section(child) else _child_sections(child)
    return found


def _anchor(section) -> str:
    """Stable anchor for a section: its id, or the id (or old-style name) of
    the anchor in its first heading."""
    if section.get("id"):
        return section.get("id")
    ids = section.xpath("(.//*[local-name()='h1' or local-name()='h2' or local-name()='h3'"
                        " or local-name()='h4' or local-name()='h5'])[1]//@*[name()='id' or name()='name']")
    return ids[0] if ids else ""


def split_sections(el, anchor: str = ""):
    """Yield (anchor, text): the whole element if short enough, else its intro
    plus each child section, recursively."""
    text = render(el)
    children = _child_sections(el)
    if len(text) <= MAX_DOC_CHARS or not children:
        yield anchor, text
        return
    yield anchor, render(el, skip=set(children))
    for child in children:
        yield from split_sections(child, _anchor(child))


def _html_documents(source: str, root_dir: Path, pages: list[Path], parse, root_xpath: str) -> list[dict]:
    """Main-content fragments of each page; ``root_xpath`` selects the content
    element(s), leaving page chrome (menus, sidebars, navigation) out.  Where
    a page has several roots (the chapters of a one-page manual) each root is
    named by its own anchor."""
    docs = []
    for page in pages:
        rel = page.relative_to(root_dir).as_posix()
        roots = parse(page).xpath(root_xpath)
        for root in roots:
            for anchor, text in split_sections(root, _anchor(root) if len(roots) > 1 else ""):
                if len(text) >= MIN_DOC_CHARS:
                    doc_id = f"{source}/{rel}" + (f"#{anchor}" if anchor else "")
                    docs.append({"id": doc_id, "source": source, "text": text})
    return _dedupe_ids(docs)


def _dedupe_ids(docs: list[dict]) -> list[dict]:
    """Suffix repeated ids (sections without anchors) with a counter."""
    seen: dict[str, int] = {}
    for doc in docs:
        n = seen.get(doc["id"], 0)
        seen[doc["id"]] = n + 1
        if n:
            doc["id"] += f"~{n}"
    return docs


def python_doc_documents() -> list[dict]:
    pages = sorted(
        p for p in PYTHON_DOC_HTML.rglob("*.html")
        if not PYTHON_DOC_SKIP.match(p.relative_to(PYTHON_DOC_HTML).as_posix())
        and not p.relative_to(PYTHON_DOC_HTML).parts[0].startswith("_")
    )
    return _html_documents("python-doc", PYTHON_DOC_HTML, pages, html.parse,
                           "//div[@role='main']")


def postgresql_doc_documents() -> list[dict]:
    pages = sorted(p for p in POSTGRES_DOC_HTML.glob("*.html") if not POSTGRES_DOC_SKIP.match(p.name))
    parser = etree.XMLParser(load_dtd=False, no_network=True, resolve_entities=False)
    # Every page is <body> = navheader div, one content div (sect1, chapter,
    # refentry, ...), navfooter div.
    return _html_documents(
        "postgresql-doc", POSTGRES_DOC_HTML, pages, lambda p: etree.parse(str(p), parser),
        "/*[local-name()='html']/*[local-name()='body']/*[local-name()='div']"
        "[not(@class='navheader' or @class='navfooter')]",
    )


def bzip2_doc_documents() -> list[dict]:
    # Each chapter is a root; the book's title page (authors, licence) and
    # table of contents are left out.
    return _html_documents("bzip2-doc", BZIP2_DOC_HTML, [BZIP2_DOC_HTML / "manual.html"], html.parse,
                           "//div[@class='chapter']")


def _sample(docs: list[dict], n: int | None, rng: random.Random) -> list[dict]:
    """Deterministic subset, kept in input (sorted-path) order."""
    if n is None or n >= len(docs):
        return docs
    keep = set(rng.sample(range(len(docs)), n))
    return [d for i, d in enumerate(docs) if i in keep]


def human_documents(rng: random.Random) -> list[dict]:
    docs = _sample(python_doc_documents(), N_PYTHON_DOC, rng)
    docs += _sample(postgresql_doc_documents(), N_POSTGRES_DOC, rng)
    docs += _sample(bzip2_doc_documents(), N_BZIP2_DOC, rng)
    return docs


# --------------------------------------------------------------------------
# Junk generators: each takes (rng, fake) and returns one document's text
# --------------------------------------------------------------------------
def _brand(rng: random.Random, fake: faker.Faker) -> str:
    """Made-up site name; avoids Faker company names, which embed surnames."""
    return fake.word().capitalize() + rng.choice(("Hub", "ly", "Pro", "Zone", "Mart", "Labs", "Online", " Direct"))


NAV_MENU = ("Home", "About", "About Us", "Contact", "Blog", "Shop", "Services", "FAQ",
            "Careers", "Press", "Support", "Pricing", "Login", "Sign up", "Cart (0)")
NAV_SEPARATORS = (" | ", " · ", " / ", "  ", " • ")
NAV_COOKIE_BANNERS = (
    "We use cookies to improve your experience on our website. By continuing to browse, "
    "you agree to our use of cookies. Accept | Learn more",
    "This site uses cookies. Manage preferences | Accept all | Reject all",
    "Our website uses cookies to give you the best possible experience. OK, got it",
)
NAV_SOCIAL = ("Facebook", "Twitter", "Instagram", "LinkedIn", "YouTube", "Pinterest", "TikTok")
NAV_LEGAL = ("Privacy Policy", "Terms of Service", "Cookie Policy", "Sitemap", "Accessibility")


def _link_list(rng: random.Random, make, lo: int, hi: int) -> str:
    return "\n".join(make() for _ in range(rng.randint(lo, hi)))


def junk_nav(rng: random.Random, fake: faker.Faker) -> str:
    """Menu bars, breadcrumbs, cookie banners, newsletter boxes and footers."""
    brand = _brand(rng, fake)
    sep = rng.choice(NAV_SEPARATORS)
    head = [
        sep.join(rng.sample(NAV_MENU, rng.randint(4, 8))),
        "Skip to main content",
        f"{brand} - {fake.catch_phrase()}",
        " > ".join(["Home"] + [fake.word().capitalize() for _ in range(rng.randint(1, 3))]),
    ]
    body = [
        _link_list(rng, lambda: f"- {fake.word().capitalize()} {fake.word()}", 5, 15),
        rng.choice(NAV_COOKIE_BANNERS),
        rng.choice(("Subscribe to our newsletter", "Sign up for our newsletter", "Join our mailing list"))
        + "\nEnter your email address\n" + rng.choice(("Subscribe", "Sign up", "Join now")),
        "Related posts\n" + _link_list(rng, lambda: f"- {fake.sentence(nb_words=rng.randint(4, 9))[:-1]}", 3, 8),
        "Categories\n" + _link_list(rng, lambda: f"{fake.word().capitalize()} ({rng.randint(1, 120)})", 4, 10),
    ]
    foot = [
        "Follow us: " + sep.join(rng.sample(NAV_SOCIAL, 4)),
        f"© {rng.randint(2009, 2024)} {brand}. All rights reserved.",
        sep.join(NAV_LEGAL[: rng.randint(2, 5)]),
        rng.choice(("Back to top ↑", "Previous | Next", f"Page 1 of {rng.randint(2, 40)}", "Load more")),
    ]
    rng.shuffle(body)
    return "\n\n".join(head[: rng.randint(2, 4)] + body[: rng.randint(2, 5)] + foot)


SEO_TOPICS = ("flights", "vpn", "weight loss pills", "car insurance", "online casino", "crypto trading",
              "web hosting", "payday loans", "seo services", "replica watches", "phone cases", "dating site")
SEO_MODIFIERS = ("best", "cheap", "top", "free", "online", "near me", "reviews", "discount", "deals",
                 "buy", "2023", "2024", "official", "sale", "fast", "no credit check", "coupon")


def junk_seo(rng: random.Random, fake: faker.Faker) -> str:
    """Keyword stuffing: comma-separated keyword permutations and tag clouds."""
    topic = rng.choice(SEO_TOPICS)
    def keyword() -> str:
        mods = rng.sample(SEO_MODIFIERS, rng.randint(1, 2))
        return f"{mods[0]} {topic}" + (f" {mods[1]}" if len(mods) > 1 else "")
    lines = [f"{topic.title()} - {keyword().title()} | {keyword().title()}"]
    for _ in range(rng.randint(4, 14)):
        lines.append(", ".join(keyword() for _ in range(rng.randint(6, 18))))
    lines.append("Tags: " + " ".join(f"#{keyword().replace(' ', '')}" for _ in range(rng.randint(8, 25))))
    if rng.random() < 0.5:
        lines.append(f"{keyword()} {keyword()} {keyword()} {fake.city().lower()} {keyword()}")
    return "\n".join(lines)


SPAM_TEMPLATES = (
    "Buy cheap {p} in {c}.",
    "Best {p} {c} prices!",
    "Order {p} online in {c} - fast delivery, no prescription.",
    "{p} {c} discount - up to {n}% off today only!!!",
    "Where to buy {p} in {c}? Click here.",
    "Cheap {p} {c} free shipping.",
    "{c} {p} store: lowest price guaranteed.",
)
SPAM_PRODUCTS = ("viagra", "cialis", "rolex replica", "ugg boots", "louis vuitton bags", "phentermine",
                 "instagram followers", "essay writing", "backlinks", "cheap flights", "iphone 15",
                 "ray ban sunglasses")


def junk_spam(rng: random.Random, fake: faker.Faker) -> str:
    """Machine-generated templated spam: a product crossed with many cities."""
    product = rng.choice(SPAM_PRODUCTS)
    templates = rng.sample(SPAM_TEMPLATES, rng.randint(2, 5))
    lines = []
    for _ in range(rng.randint(10, 60)):
        lines.append(rng.choice(templates).format(p=product, c=fake.city(), n=rng.choice((30, 50, 70, 90))))
    sep = rng.choice(("\n", " ", "\n\n"))
    return sep.join(lines)


SYLLABLE_ONSETS = ("", "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
                   "st", "tr", "kr", "sh", "ch")
SYLLABLE_VOWELS = ("a", "e", "i", "o", "u", "ae", "ou", "ei")


def junk_gibberish(rng: random.Random, fake: faker.Faker) -> str:
    """Random character strings, or pseudo-words made of random syllables."""
    if rng.random() < 0.5:
        alphabet = string.ascii_letters + string.digits + rng.choice(("", "!@#$%^&*()", ".,;:-_"))
        words = ("".join(rng.choices(alphabet, k=rng.randint(2, 14))) for _ in range(rng.randint(80, 700)))
    else:
        def word() -> str:
            return "".join(rng.choice(SYLLABLE_ONSETS) + rng.choice(SYLLABLE_VOWELS) for _ in range(rng.randint(1, 4)))
        words = (word() for _ in range(rng.randint(80, 700)))
    out, line = [], []
    for w in words:
        line.append(w)
        if rng.random() < 0.08:
            out.append(" ".join(line) + rng.choice(("", ".", "")))
            line = []
    out.append(" ".join(line))
    return "\n".join(out).strip()


LOREM_OPENING = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
                 "incididunt ut labore et dolore magna aliqua.")


def junk_lorem(rng: random.Random, fake: faker.Faker) -> str:
    """Placeholder pages: Latin filler, sometimes under template headings."""
    words = LatinLorem.word_list
    paras = [fake.paragraph(nb_sentences=rng.randint(3, 9), ext_word_list=words) for _ in range(rng.randint(2, 9))]
    if rng.random() < 0.7:
        paras[0] = LOREM_OPENING + " " + paras[0]
    if rng.random() < 0.4:
        headings = ("Lorem Ipsum", "Our Services", "About Us", "Welcome", "Section Title", "Heading 2")
        paras = [p for para in paras for p in (rng.choice(headings), para)]
    return "\n\n".join(paras)


REPEATED_LINES = ("Click here to continue", "404 Not Found", "Loading...", "Error: connection timed out",
                  "Please enable JavaScript to view this page.", "Add to cart", "Read more »",
                  "This content is not available in your country.", "N/A", "Buffering...")


def junk_repetitive(rng: random.Random, fake: faker.Faker) -> str:
    """One line (or an alternating pair) repeated dozens of times."""
    lines = [rng.choice(REPEATED_LINES) if rng.random() < 0.6 else fake.sentence()]
    if rng.random() < 0.3:
        lines.append(rng.choice(REPEATED_LINES))
    n = rng.randint(20, 200)
    return "\n".join(lines[i % len(lines)] for i in range(n))


def junk_numbers(rng: random.Random, fake: faker.Faker) -> str:
    """Tables of bare numbers: ints, floats or percentages, various delimiters."""
    cols, rows = rng.randint(3, 12), rng.randint(15, 120)
    sep = rng.choice(("\t", " ", ",", " | ", ";", "  "))
    kind = rng.choice(("int", "float", "pct", "mixed"))
    def cell() -> str:
        k = kind if kind != "mixed" else rng.choice(("int", "float", "pct"))
        if k == "int":
            return str(rng.randint(0, 99_999))
        if k == "float":
            return f"{rng.uniform(-1000, 1000):.{rng.randint(1, 4)}f}"
        return f"{rng.uniform(0, 100):.1f}%"
    return "\n".join(sep.join(cell() for _ in range(cols)) for _ in range(rows))


JUNK_GENERATORS = {
    "junk:nav": junk_nav,
    "junk:seo": junk_seo,
    "junk:spam": junk_spam,
    "junk:gibberish": junk_gibberish,
    "junk:lorem": junk_lorem,
    "junk:repetitive": junk_repetitive,
    "junk:numbers": junk_numbers,
}


def junk_documents(rng: random.Random, fake: faker.Faker) -> list[dict]:
    docs = []
    for source, n in N_JUNK.items():
        for i in range(n):
            text = JUNK_GENERATORS[source](rng, fake)
            docs.append({"id": f"{source}/{i:04d}", "source": source, "text": text})
    return docs


# --------------------------------------------------------------------------
# PII injection
# --------------------------------------------------------------------------
def _ascii_slug(s: str) -> str:
    s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", s.lower())


def luhn_ok(number: str) -> bool:
    """Luhn checksum over the digits (Faker's card numbers should all pass)."""
    digits = [int(c) for c in number if c.isdigit()][::-1]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def _group4(s: str) -> str:
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4))


class PiiFactory:
    """Values for one document; the person fields agree with each other."""

    def __init__(self, rng: random.Random, fake: faker.Faker, us_fake: faker.Faker):
        self.rng, self.fake, self.us_fake = rng, fake, us_fake
        self._first = self._last = None  # most recent name(), reused by email()

    def name(self) -> str:
        self._first, self._last = self.fake.first_name(), self.fake.last_name()
        return f"{self._first} {self._last}"

    def email(self) -> str:
        # Derived from the latest name so "Jane Doe <jane.doe@...>" reads naturally.
        first = self._first or self.fake.first_name()
        last = self._last or self.fake.last_name()
        local = self.rng.choice((f"{_ascii_slug(first)}.{_ascii_slug(last)}",
                                 f"{_ascii_slug(first)[:1]}{_ascii_slug(last)}",
                                 f"{_ascii_slug(last)}{self.rng.randint(1, 99)}"))
        return f"{local}@{self.fake.free_email_domain()}"

    def phone(self) -> str:
        return self.fake.phone_number()

    def ipv4(self) -> str:
        return self.fake.ipv4()

    def ipv6(self) -> str:
        return self.fake.ipv6()

    def credit_card(self) -> str:
        number = self.fake.credit_card_number()
        return _group4(number) if len(number) == 16 and self.rng.random() < 0.5 else number

    def ssn(self) -> str:
        return self.us_fake.ssn()  # US format regardless of the document's locale

    def iban(self) -> str:
        iban = self.fake.iban()
        return _group4(iban) if self.rng.random() < 0.5 else iban

    def url_credentials(self) -> str:
        user = self.fake.user_name()
        password = self.fake.password(length=self.rng.randint(8, 16), special_chars=False)
        return f"https://{user}:{password}@{self.fake.domain_name()}/{self.fake.uri_path()}"

    def aws_access_key(self) -> str:
        return "AKIA" + "".join(self.rng.choices(AWS_KEY_ALPHABET, k=16))


def render_template(template: str, factory: PiiFactory) -> tuple[str, list[dict]]:
    """Fill a PII template; spans are relative to the returned sentence."""
    out, pii = "", []
    for literal, field, _, _ in string.Formatter().parse(template):
        out += literal
        if field:
            kind = re.sub(r"_\d+$", "", field)
            value = getattr(factory, kind)()
            pii.append({"type": kind, "start": len(out), "end": len(out) + len(value), "value": value})
            out += value
    return out, pii


def _insertion_points(text: str) -> list[int]:
    """Ends of prose paragraphs: a blank line follows a line ending in '.',
    and that line is not code (shell/REPL prompt, comment)."""
    points = []
    for m in re.finditer(r"\.\n\n", text):
        line = text[text.rfind("\n", 0, m.start()) + 1 : m.start() + 1].lstrip()
        if not line.startswith((">>>", "...", "$", "#", "|")):
            points.append(m.start() + 1)
    if text.endswith("."):
        points.append(len(text))
    return points


def inject_pii(doc: dict, rng: random.Random, fakers: dict[str, faker.Faker]) -> None:
    """Insert 1-3 PII sentences as new paragraphs after prose paragraphs,
    indented like the paragraph they follow."""
    text = doc["text"]
    points = _insertion_points(text) or [len(text)]
    k = min(len(points), rng.randint(*PII_SENTENCES_PER_DOC))
    factory = PiiFactory(rng, fakers[rng.choice(PII_LOCALES)], fakers["en_US"])
    out, pii, prev = "", [], 0
    for point in sorted(rng.sample(points, k)):
        last_line = text[text.rfind("\n", 0, point) + 1 : point]
        indent = last_line[: len(last_line) - len(last_line.lstrip(" "))]
        sentence, spans = render_template(rng.choice(PII_TEMPLATES), factory)
        out += text[prev:point] + "\n\n" + indent
        pii += [{**s, "start": s["start"] + len(out), "end": s["end"] + len(out)} for s in spans]
        out += sentence
        prev = point
    doc["text"] = out + text[prev:]
    doc["pii"] = pii


# --------------------------------------------------------------------------
# Near duplicates
# --------------------------------------------------------------------------
def _words(text: str) -> list[str]:
    """Alternating [word, space, word, ...] tokens; whitespace (incl. newlines) is kept."""
    return re.split(r"(\s+)", text)


def _edit_words(text: str, op: str, rate: float, rng: random.Random) -> tuple[str, int]:
    tokens = _words(text)
    word_idx = [i for i in range(0, len(tokens), 2) if tokens[i]]
    n = max(1, round(rate * len(word_idx)))
    if op == "word_swap":  # disjoint adjacent pairs
        candidates = range(0, len(word_idx) - 1, 2)
        pairs = rng.sample(candidates, max(1, n // 2))
        for p in pairs:
            a, b = word_idx[p], word_idx[p + 1]
            tokens[a], tokens[b] = tokens[b], tokens[a]
        return "".join(tokens), len(pairs)
    chosen = sorted(rng.sample(word_idx, n), reverse=True)  # back to front keeps indices valid
    for i in chosen:
        if op == "word_delete":
            del tokens[i : i + 2]  # the word and the whitespace after it
        else:  # word_insert
            tokens[i:i] = [rng.choice(INSERT_WORDS), " "]
    return "".join(tokens), n


def _source_url(doc_id: str) -> str:
    source, _, path = doc_id.partition("/")
    host = {"python-doc": "docs.python.org/3.11", "postgresql-doc": "www.postgresql.org/docs/15",
            "bzip2-doc": "sourceware.org/bzip2/manual"}[source]
    return f"https://{host}/{path}"


def near_duplicate(doc: dict, edit: dict, rng: random.Random, fake: faker.Faker) -> dict:
    """Apply one edit to a copy of ``doc``; the edit record gets what was done."""
    text, op = doc["text"], edit["op"]
    edit = dict(edit)
    date = fake.date_between(start_date=DATE_RANGE[0], end_date=DATE_RANGE[1])
    if op in ("word_swap", "word_delete", "word_insert"):
        text, edit["n"] = _edit_words(text, op, edit["rate"], rng)
    elif op == "add_header":
        edit["line"] = rng.choice((f"Source: {_source_url(doc['id'])}", f"Posted by admin on {date:%B %d, %Y}",
                                   f"[Archived copy, {date.isoformat()}]"))
        text = edit["line"] + "\n\n" + text
    elif op == "add_footer":
        edit["line"] = rng.choice((f"Retrieved from {_source_url(doc['id'])} on {date:%d %B %Y}.",
                                   f"This page was last edited on {date:%d %B %Y}, "
                                   f"at {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}.",
                                   "Share this: Twitter | Facebook | Email"))
        text = text + "\n\n" + edit["line"]
    else:  # date_line: a mirror that stamps its own "last updated" date on top
        edit["line"] = f"Last updated: {date.isoformat()}"
        text = edit["line"] + "\n" + text
    return {**doc, "text": text, "kind": "near_dup", "dup_of": doc["id"], "edit": edit, "pii": []}


# --------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------
def check_versions() -> None:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n", *EXPECTED_PACKAGES],
                         capture_output=True, text=True).stdout
    found = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    found["faker"] = faker.VERSION
    for name, want in {**EXPECTED_PACKAGES, "faker": EXPECTED_FAKER}.items():
        if found.get(name) != want:
            print(f"warning: {name} {found.get(name)} != {want}; output will differ from the committed corpus",
                  file=sys.stderr)


def make_fakers() -> dict[str, faker.Faker]:
    fakers = {}
    for locale in PII_LOCALES:
        fakers[locale] = faker.Faker(locale)
        fakers[locale].seed_instance(f"{SEED}:{locale}")
    return fakers


def build() -> list[dict]:
    fakers = make_fakers()
    originals = [{**d, "label": "human", "kind": "original", "dup_of": None, "edit": None, "pii": []}
                 for d in human_documents(random.Random(f"{SEED}:select"))]

    rng = random.Random(f"{SEED}:pii")
    for doc in rng.sample(originals, N_PII_DOCS):
        inject_pii(doc, rng, fakers)

    rng = random.Random(f"{SEED}:dups")
    exact_src = rng.sample(originals, N_EXACT_DUP)
    taken = {d["id"] for d in exact_src}
    near_pool = [d for d in originals if d["id"] not in taken and not d["pii"]
                 and len(d["text"].split()) >= NEAR_DUP_MIN_WORDS]
    exact = [{**d, "id": d["id"] + "~dup", "kind": "exact_dup", "dup_of": d["id"]} for d in exact_src]
    near = [{**near_duplicate(d, NEAR_DUP_EDITS[i % len(NEAR_DUP_EDITS)], rng, fakers["en_US"]),
             "id": d["id"] + "~near"}
            for i, d in enumerate(rng.sample(near_pool, N_NEAR_DUP))]

    junk = [{**d, "label": "junk", "kind": "original", "dup_of": None, "edit": None, "pii": []}
            for d in junk_documents(random.Random(f"{SEED}:junk"), fakers["en_US"])]

    docs = originals + exact + near + junk
    random.Random(f"{SEED}:shuffle").shuffle(docs)
    return docs


def validate(docs: list[dict]) -> None:
    ids = [d["id"] for d in docs]
    assert len(ids) == len(set(ids)), "duplicate ids"
    for d in docs:
        for p in d["pii"]:
            assert d["text"][p["start"] : p["end"]] == p["value"], (d["id"], p)
            if p["type"] == "credit_card":
                assert luhn_ok(p["value"]), p


FIELDS = ("id", "text", "source", "label", "kind", "dup_of", "edit", "pii")


def write(docs: list[dict], path: Path) -> None:
    """gzip with mtime=0 and no file name in the header, so bytes are stable."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
        for d in docs:
            gz.write((json.dumps({k: d[k] for k in FIELDS}, ensure_ascii=False) + "\n").encode("utf-8"))


def summarize(docs: list[dict], path: Path) -> None:
    by = Counter((d["source"], d["label"], d["kind"]) for d in docs)
    for (source, label, kind), n in sorted(by.items()):
        print(f"{source:20s} {label:6s} {kind:10s} {n:5d}")
    n_pii = sum(bool(d["pii"]) for d in docs)
    print(f"total {len(docs)} docs; {n_pii} with PII ({sum(len(d['pii']) for d in docs)} spans); "
          f"{sum(len(d['text']) for d in docs):,} chars")
    data = path.read_bytes()
    print(f"{path.name}: {len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()}")


def main() -> None:
    check_versions()
    docs = build()
    validate(docs)
    write(docs, OUT_PATH)
    summarize(docs, OUT_PATH)


if __name__ == "__main__":
    main()
