"""The PII evaluation set: Faker values in several locales at known spans, plus look-alikes.

Each document mixes Faker filler paragraphs, sentences carrying PII (gold spans) and sentences
carrying look-alikes that must survive (version strings, dates, ISBNs, hex hashes, UUIDs,
``@decorator`` lines, ``example.com`` placeholders, big numeric constants, dotted names such as
``john.sm``). Everything is drawn from seeded generators, so the set is the same on every run
with the same Faker version.

Used by ``tests/curation/pii/test_pii.py`` (asserts the recall and look-alike thresholds) and
``bench/pii.py`` (compares against Presidio's default engine).

Example:
    >>> docs = build_eval_set(n_docs=2)
    >>> all(d.text[s.start:s.end] == s.value for d in docs for s in d.gold + d.lookalikes)
    True
"""

from __future__ import annotations

import base64
import ipaddress
import random
import string
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "it_IT", "es_ES", "nl_NL")
SEED = "curation-pii-eval-v1"

# Gold type -> the entity a detector must report for it to count as correct.
GOLD_ENTITY = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "ipv4": "IP_ADDRESS",
    "ipv6": "IP_ADDRESS",
    "credit_card": "CREDIT_CARD",
    "ssn": "US_SSN",
    "iban": "IBAN_CODE",
    "url_credentials": "URL_CREDENTIALS",
    "aws_access_key": "AWS_ACCESS_KEY",
    "private_key": "PRIVATE_KEY",
    "api_token": "API_TOKEN",
    "person": "PERSON",
    "address": "STREET_ADDRESS",
}
LOOKALIKE_KINDS = ("version", "date", "isbn", "hex_hash", "uuid", "decorator", "example_email",
                   "example_url", "number", "dotted_name", "product", "place", "eponym", "heading", "code_name")
PEOPLE_KINDS = ("person", "address")  # dealt round-robin in pieces of their own, after the others
NAME_LOOKALIKES = ("product", "place", "eponym", "heading", "code_name")
NAME = "\x01"  # where a template puts a person's name (a gold span of its own)


@dataclass(frozen=True, slots=True)
class Span:
    kind: str  # a GOLD_ENTITY key, or a LOOKALIKE_KINDS entry
    start: int
    end: int
    value: str


@dataclass(slots=True)
class EvalDoc:
    id: str
    locale: str
    text: str
    gold: list[Span] = field(default_factory=list)
    lookalikes: list[Span] = field(default_factory=list)


# ---------------------------------------------------------------- values

def _group4(value: str, sep: str = " ") -> str:
    return sep.join(value[i:i + 4] for i in range(0, len(value), 4))


def _isbn13(rng: random.Random) -> tuple[str, str]:
    body = "978" + "".join(rng.choice(string.digits) for _ in range(9))
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    digits = body + str(check)
    return digits, f"{digits[:3]}-{digits[3]}-{digits[4:6]}-{digits[6:12]}-{digits[12]}"


def _isbn10(rng: random.Random) -> tuple[str, str]:
    body = "".join(rng.choice(string.digits) for _ in range(9))
    check = sum((10 - i) * int(d) for i, d in enumerate(body)) % 11
    check_char = "X" if (11 - check) % 11 == 10 else str((11 - check) % 11)
    digits = body + check_char
    return digits, f"{digits[0]}-{digits[1:4]}-{digits[4:9]}-{digits[9]}"


_NON_PERSONAL = [ipaddress.ip_network(n) for n in ("fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32", "::/8")]


def gold_value(kind: str, fake: Faker, rng: random.Random) -> tuple[str, str | tuple[str, str, str]]:
    """(sentence with one ``{}``, value) for a gold type. For URL credentials the value is
    ``(scheme, user:password, @host/path)``: only the middle part is the secret. A ``NAME`` in the
    sentence stands for a person's name, drawn by :func:`person_name`."""
    if kind == "email":
        value = rng.choice([fake.free_email, fake.company_email])()  # fake.email() is @example.*
        return rng.choice([f"Write to {NAME} at {{}}.", "Contact: {}", f"{NAME} <{{}}>",
                           "Send the logs to {} before Friday.", "mailto:{}"]), value
    if kind == "phone":
        return rng.choice([f"Call {NAME} on {{}}.", "Phone: {}", "Tel. {}", f"{NAME}, {{}}",
                           "For support ring {} (weekdays).", "Mobile {} or e-mail."]), fake.phone_number()
    if kind == "ipv4":
        return rng.choice(["Login from {} was blocked.", "The server at {} answered.",
                           "client={} status=403"]), fake.ipv4_public()
    if kind == "ipv6":
        while True:
            value = fake.ipv6()
            if not any(ipaddress.ip_address(value) in net for net in _NON_PERSONAL):
                break
        return rng.choice(["Connected from {}.", "Mirror: {} (IPv6)", "peer {} closed"]), value
    if kind == "credit_card":
        value = fake.credit_card_number()
        if len(value) == 16 and rng.random() < 0.4:
            value = _group4(value, rng.choice([" ", "-"]))
        return rng.choice(["Card number {} was charged.", "Paid with {}.", "cc: {}"]), value
    if kind == "ssn":
        return rng.choice(["SSN {} on file.", "Social security number: {}", "ssn={}"]), Faker("en_US").ssn()
    if kind == "iban":
        value = fake.iban()
        if rng.random() < 0.5:
            value = _group4(value)
        return rng.choice(["Transfer to IBAN {} by Monday.", "IBAN: {}", "Account {} (refund)."]), value
    if kind == "url_credentials":
        scheme = rng.choice(["https", "http", "ftp", "postgresql", "redis", "mongodb+srv"])
        user = fake.user_name()
        password = fake.password(length=rng.randint(8, 16), special_chars=False)
        host = fake.domain_name()
        cred = f"{user}:{password}"
        return (rng.choice(["Clone it from {}.", "DATABASE_URL={}", "Mirror at {} (read-only)."]),
                (f"{scheme}://", cred, f"@{host}/{fake.uri_path()}"))
    if kind == "aws_access_key":
        value = "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))
        return rng.choice(["aws_access_key_id = {}", "Key id {} was rotated.", "export AWS_ACCESS_KEY_ID={}"]), value
    if kind == "private_key":
        body = base64.b64encode(rng.randbytes(rng.choice([96, 192, 384]))).decode()
        lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
        label = rng.choice(["RSA ", "EC ", "OPENSSH ", ""])
        value = f"-----BEGIN {label}PRIVATE KEY-----\n{lines}\n-----END {label}PRIVATE KEY-----"
        return "The deploy key:\n{}\nkeep it safe.", value
    if kind == "api_token":
        alnum = string.ascii_letters + string.digits
        shape = rng.choice(["github", "slack", "google", "huggingface", "stripe", "npm"])
        value = {
            "github": lambda: "ghp_" + "".join(rng.choice(alnum) for _ in range(36)),
            "slack": lambda: "xoxb-" + "-".join("".join(rng.choice(string.digits) for _ in range(12)) for _ in range(2))
            + "-" + "".join(rng.choice(alnum) for _ in range(24)),
            "google": lambda: "AIza" + "".join(rng.choice(alnum + "_-") for _ in range(35)),
            "huggingface": lambda: "hf_" + "".join(rng.choice(string.ascii_letters) for _ in range(34)),
            "stripe": lambda: "sk_live_" + "".join(rng.choice(alnum) for _ in range(24)),
            "npm": lambda: "npm_" + "".join(rng.choice(alnum) for _ in range(36)),
        }[shape]()
        return rng.choice(["token: {}", "Authorization: Bearer {}", "export API_TOKEN={}"]), value
    raise ValueError(kind)


def lookalike_value(kind: str, fake: Faker, rng: random.Random) -> tuple[str, str]:
    """(sentence with one ``{}``, value) for a look-alike that must survive redaction."""
    if kind == "version":
        a, b, c = rng.randint(0, 12), rng.randint(0, 40), rng.randint(0, 30)
        value, template = rng.choice([
            (f"{a}.{b}.{c}", "Requires version {} or later."),
            (f"{a}.{b}.{c}", "Upgrade to {} first."),
            (f"v{a}.{b}.{c}", "Tagged {} yesterday."),
            (f"{rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}.{rng.randint(1, 9)}", "Build {} is out."),
            (f"{rng.randint(2, 6)}.{rng.randint(0, 19)}.{rng.randint(10, 200)}.{rng.randint(10, 99)}",
             "Fixed in Linux {}."),
            (f"{a}.{b}.{c}", "Python {} changed this."),
        ])
        return template, value
    if kind == "date":
        d = fake.date_time_between(start_date="-30y", end_date="+2y")
        value = rng.choice([d.strftime("%Y-%m-%d"), d.strftime("%d/%m/%Y"), d.strftime("%m/%d/%Y"),
                            d.strftime("%d.%m.%Y"), d.strftime("%B %d, %Y"), d.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            d.strftime("%Y-%m-%d %H:%M:%S"), d.strftime("%Y%m%d")])
        return rng.choice(["Released on {}.", "Last updated: {}", "({})"]), value
    if kind == "isbn":
        plain13, dashed13 = _isbn13(rng)
        plain10, dashed10 = _isbn10(rng)
        value = rng.choice([plain13, dashed13, plain10, dashed10])
        return rng.choice(["ISBN {}", "ISBN-13: {}", "See the book (ISBN {}).", "isbn {}"]), value
    if kind == "hex_hash":
        n = rng.choice([7, 12, 32, 40, 64])
        return rng.choice(["commit {}", "sha256: {}", "Checksum {} matches."]), rng.randbytes(32).hex()[:n]
    if kind == "uuid":
        return rng.choice(["id={}", "Request {} failed.", "uuid: {}"]), str(fake.uuid4())
    if kind == "decorator":
        return "{}", rng.choice(["@property", "@staticmethod", "@functools.lru_cache(maxsize=128)",
                                 "@app.route('/api/v1/users')", "@pytest.mark.parametrize('n', [1, 2, 3])",
                                 "@dataclass(frozen=True)", "@contextlib.contextmanager", "@overload"])
    if kind == "example_email":
        user = fake.user_name()
        return rng.choice(["e.g. {}", "Set EMAIL={} in the config.", "From: {}"]), \
            f"{user}@{rng.choice(['example.com', 'example.org', 'example.net', 'mail.example.com', 'host.test'])}"
    if kind == "example_url":
        return rng.choice(["Try {} locally.", "URL: {}"]), \
            f"https://{fake.user_name()}:{fake.password(length=10, special_chars=False)}@example.com/{fake.uri_path()}"
    if kind == "number":
        return rng.choice(["The limit is {} bytes.", "returns {} on overflow", "offset {}"]), rng.choice([
            "4294967295", "2147483647", "9223372036854775807", "18446744073709551615",
            str(rng.randint(1_000_000_000, 1_900_000_000)),
            f"{rng.randint(1, 999)},{rng.randint(100, 999)},{rng.randint(100, 999)}", f"{rng.randint(10**7, 10**8)}",
        ])
    if kind == "dotted_name":
        return rng.choice(["See {} for details.", "import {}", "{} was renamed."]), rng.choice([
            "john.sm", "os.path.join", "config.yaml", "index.html", "self.assertEqual", "np.linalg.norm", "a.b.c",
        ])
    raise ValueError(kind)


def person_name(fake: Faker, rng: random.Random) -> str:
    """First and last name of the locale, sometimes with a middle initial."""
    middle = f" {rng.choice(string.ascii_uppercase)}." if rng.random() < 0.15 else ""
    return f"{fake.first_name()}{middle} {fake.last_name()}"


# Names where people write them: letters, bug reports, mailing-list headers, signatures,
# changelog entries, prose. NAME is the full name; FIRST and LAST (below) parts of the same person.
FIRST, LAST = "\x02", "\x03"
PERSON_TEMPLATES = (
    f"Dear {FIRST},\n\nthanks for the quick reply; the fix is in the next build.\n\nBest regards,\n{NAME}",
    f"Dear Ms. {LAST},\nplease find the signed contract attached.",
    f"Dear Mr. {LAST}, your account has been reactivated.",
    f"From: {NAME}\nSubject: Re: [PATCH v2] fix the overflow in the parser\n\nLooks good to me.",
    f"Reported-by: {NAME}\nSigned-off-by: {NAME}",
    f"* Fix a crash on empty input (patch by {NAME}).",
    f" -- {NAME}  Mon, 03 Feb 2025 12:00:00 +0100",
    f"--\n{NAME}\nRelease manager",
    f"I spoke with {NAME} yesterday about the release schedule.",
    f"{NAME} will review the patch before Friday.",
    f"Thanks to {NAME} for testing the beta on real hardware.",
    f"Bug #4711 was opened by {NAME} after the upgrade broke printing.",
    f"Co-authored-by: {NAME}",
    f"The meeting notes were taken by {NAME}; {FIRST} also sent the slides.",
    f"Hi {FIRST},\ncould you rebase this on main?\nCheers,\n{NAME}",
)


def address_value(locale: str, fake: Faker, rng: random.Random) -> tuple[str, str]:
    """(sentence with one ``{}``, a postal address as that country writes it)."""
    sep = rng.choice([", ", "\n"])
    if locale == "en_US":
        street = fake.street_address()
        city = f"{fake.city()}, {fake.state_abbr()} {fake.zipcode()}"
    elif locale == "en_GB":
        street = f"{fake.building_number()} {fake.street_name()}"
        city = f"{fake.city()}{sep}{fake.postcode()}"
    elif locale in ("de_DE", "nl_NL"):
        street = f"{fake.street_name()} {rng.randint(1, 250)}"
        city = f"{fake.postcode()} {fake.city()}"
    elif locale == "fr_FR":
        street = f"{rng.randint(1, 250)}, {fake.street_name()}"
        city = f"{fake.postcode()} {fake.city()}"
    elif locale == "it_IT":
        street = f"{fake.street_name()}, {rng.randint(1, 250)}"
        city = f"{fake.postcode()} {fake.city()} ({fake.state_abbr()})"
    else:  # es_ES
        street = f"{fake.street_name()} {rng.randint(1, 250)}"
        city = f"{fake.postcode()} {fake.city()}"
    template = rng.choice(["Please send the signed copy to {}.", "Ship to:\n{}\n", "Our office has moved to {}.",
                           "Billing address: {}", "Return the device to\n{}\nbefore the end of the month."])
    return template, street + sep + city


NAME_LOOKALIKE_VALUES = {
    "product": ("Visual Studio Code", "Red Hat Enterprise Linux", "Google Cloud Storage", "Apache Kafka",
                "Jupyter Notebook", "Victoria Metrics", "Jenkins Pipeline", "Amazon Web Services", "Android Studio",
                "Adobe Acrobat Reader", "Microsoft Teams", "Mozilla Firefox", "Windows Server", "Rust Analyzer",
                "Grafana Loki", "Elastic Beats", "Homebrew Cask", "Oracle Database", "Ruby Gems", "Django Admin"),
    "place": ("Frankfurt", "the Sydney region", "São Paulo", "New York City", "Paris and London", "Santa Clara",
              "Amsterdam", "us-east-1 (N. Virginia)", "Mount Vernon", "Victoria, British Columbia", "Tel Aviv",
              "Los Angeles", "Cape Town", "Hong Kong", "Salt Lake City", "Rio de Janeiro", "San Francisco"),
    "eponym": ("Dijkstra's algorithm", "the Levenshtein distance", "a Bloom filter", "Gaussian elimination",
               "Bayes' theorem", "Euler's method", "the Fourier Transform", "the Boyer-Moore search",
               "Huffman coding", "the Kalman Filter", "Fisher-Yates shuffle", "Pascal's triangle",
               "Markov Chain Monte Carlo", "the Turing Award", "a Jordan Normal Form"),
    "heading": ("Getting Started", "Release Notes", "Advanced Usage", "General Public License",
                "Frequently Asked Questions", "Known Issues", "Table Of Contents", "Security Considerations",
                "Migration Guide", "Further Reading", "Error Handling", "Design Notes"),
    "code_name": ("getUserName()", "parse_full_name(record)", "HttpRequestHandler", "UserProfileSerializer",
                  "self.first_name", "LastName.strip()", "PersonBuilder().withName()", "JaneDoeFixture",
                  "john_smith_test.py", "setFirstName", "GraceHopperScheduler", "JohnsonTransform"),
}
NAME_LOOKALIKE_TEMPLATES = {
    "product": ("We deploy it with {} in production.", "{} is supported since the last release.",
                "Install {} first."),
    "place": ("Data is stored in {}.", "The conference takes place in {} this year.", "Mirrors in {} are faster."),
    "eponym": ("It uses {} under the hood.", "See {} for the details.", "{} gives the shortest path."),
    "heading": ("{}\n", "## {}\n", "{}\n========"),
    "code_name": ("Call {} to read it.", "The test uses {}.", "Rename {} in the next release."),
}


def name_lookalike_value(kind: str, rng: random.Random) -> tuple[str, str]:
    return rng.choice(NAME_LOOKALIKE_TEMPLATES[kind]), rng.choice(NAME_LOOKALIKE_VALUES[kind])


# ---------------------------------------------------------------- documents

def build_eval_set(n_docs: int = 500, per_doc: int = 5, seed: str = SEED, per_doc_people: int = 2) -> list[EvalDoc]:
    """``n_docs`` documents, each with ``per_doc`` gold and ``per_doc`` look-alike sentences, and
    ``per_doc_people`` sentences with a name or an address plus as many name look-alikes.

    Gold types and look-alike kinds are dealt round-robin, so every type gets the same count. Names
    inside the sentences of other types (``Write to NAME at <email>``) are gold ``person`` spans too.
    """
    rng = random.Random(seed)
    fakers = {}
    for locale in LOCALES:
        fakers[locale] = Faker(locale)
        fakers[locale].seed_instance(f"{seed}/{locale}")
    gold_kinds = [k for k in GOLD_ENTITY if k not in PEOPLE_KINDS]
    pattern_lookalikes = [k for k in LOOKALIKE_KINDS if k not in NAME_LOOKALIKES]
    docs: list[EvalDoc] = []
    g = k = p = q = 0
    for i in range(n_docs):
        locale = LOCALES[i % len(LOCALES)]
        fake = fakers[locale]
        pieces: list[tuple[str, str, object]] = []  # (role, template, value)
        for _ in range(per_doc):
            template, value = gold_value(gold_kinds[g % len(gold_kinds)], fake, rng)
            pieces.append((gold_kinds[g % len(gold_kinds)], template, value))
            g += 1
        for _ in range(per_doc):
            kind = pattern_lookalikes[k % len(pattern_lookalikes)]
            template, value = lookalike_value(kind, fake, rng)
            pieces.append(("~" + kind, template, value))
            k += 1
        for _ in range(per_doc_people):
            if PEOPLE_KINDS[p % len(PEOPLE_KINDS)] == "person":
                pieces.append(("person", rng.choice(PERSON_TEMPLATES), None))
            else:
                template, value = address_value(locale, fake, rng)
                pieces.append(("address", template, value))
            p += 1
            kind = NAME_LOOKALIKES[q % len(NAME_LOOKALIKES)]
            template, value = name_lookalike_value(kind, rng)
            pieces.append(("~" + kind, template, value))
            q += 1
        for _ in range(rng.randint(2, 4)):
            pieces.append(("filler", fake.paragraph(nb_sentences=rng.randint(2, 5)), None))
        rng.shuffle(pieces)
        doc = EvalDoc(id=f"pii-eval/{i:04d}", locale=locale, text="")
        chunks: list[str] = []
        pos = 0
        for role, template, value in pieces:
            chunk, names = _with_names(template, fake, rng) if role != "filler" else (template, [])
            if value is not None:
                filled = len(chunk)
                head, tail = chunk.split("{}")
                if isinstance(value, tuple):  # url credentials: only user:password is the secret
                    prefix, secret, suffix = value
                    start = pos + len(head) + len(prefix)
                    chunk = head + prefix + secret + suffix + tail
                    doc.gold.append(Span(role, start, start + len(secret), secret))
                else:
                    start = pos + len(head)
                    chunk = head + value + tail
                    span = Span(role.lstrip("~"), start, start + len(value), value)
                    (doc.lookalikes if role.startswith("~") else doc.gold).append(span)
                # a name after the value moves by the value's length
                names = [(o if o < len(head) else o + len(chunk) - filled, n) for o, n in names]
            doc.gold += [Span("person", pos + o, pos + o + len(n), n) for o, n in names]
            chunks.append(chunk)
            pos += len(chunk) + 2
        doc.text = "\n\n".join(chunks)
        doc.gold.sort(key=lambda s: s.start)
        docs.append(doc)
    return docs


def _with_names(template: str, fake: Faker, rng: random.Random) -> tuple[str, list[tuple[int, str]]]:
    """``template`` with NAME, FIRST and LAST filled in by one person, and where each name is (its
    offset in the result, with the ``{}`` still in place)."""
    if not any(m in template for m in (NAME, FIRST, LAST)):
        return template, []
    full = person_name(fake, rng)
    first, last = full.split(" ", 1)[0], full.rsplit(" ", 1)[-1]
    out, names = "", []
    for ch in template:
        value = {NAME: full, FIRST: first, LAST: last}.get(ch)
        if value is None:
            out += ch
        else:
            names.append((len(out), value))
            out += value
    return out, names


# ---------------------------------------------------------------- scoring

@dataclass
class Score:
    """Per-type recall, per-entity precision, look-alike redaction rate."""

    recall: dict[str, tuple[int, int]]  # gold type -> (caught, total)
    precision: dict[str, tuple[int, int]]  # entity -> (correct, reported)
    lookalikes: dict[str, tuple[int, int]]  # kind -> (redacted, total)
    leaked: list[tuple[str, str, str]]  # (doc id, gold type, value) not fully covered
    lookalikes_hit: list[tuple[str, str, str]]  # (doc id, kind, value) overlapped by a detection

    def recall_of(self, kind: str) -> float:
        caught, total = self.recall[kind]
        return caught / total if total else 1.0

    def precision_of(self, entity: str) -> float:
        correct, reported = self.precision.get(entity, (0, 0))
        return correct / reported if reported else 1.0

    def lookalike_rate(self) -> float:
        hit = sum(h for h, _ in self.lookalikes.values())
        total = sum(t for _, t in self.lookalikes.values())
        return hit / total if total else 0.0

    def table(self) -> str:
        rows = ["| type | recall | caught / total | entity precision |", "|---|---:|---:|---:|"]
        for kind, (caught, total) in self.recall.items():
            entity = GOLD_ENTITY[kind]
            precision = f"{self.precision_of(entity):.3f}" if entity in self.precision else "- (none reported)"
            rows.append(f"| {kind} | {self.recall_of(kind):.3f} | {caught} / {total} | {entity} {precision} |")
        for entity in sorted(set(self.precision) - set(GOLD_ENTITY.values())):
            rows.append(f"| (other) | | | {entity} {self.precision_of(entity):.3f} "
                        f"({self.precision[entity][1]} reported) |")
        hit = sum(h for h, _ in self.lookalikes.values())
        total = sum(t for _, t in self.lookalikes.values())
        rows.append(f"| look-alikes redacted | {self.lookalike_rate():.3f} | {hit} / {total} | |")
        rows += [f"| - {k} | {h / t:.3f} | {h} / {t} | |" for k, (h, t) in self.lookalikes.items()]
        return "\n".join(rows)


def score(docs: Iterable[EvalDoc], detect: Callable[[str], list[tuple[str, int, int]]]) -> Score:
    """Score a detector returning ``(entity, start, end)`` spans for a text.

    A gold span is caught when detections (of any entity) cover all its non-space characters: what
    matters for a leak is whether the value survives. A detection is correct when it overlaps a
    gold span whose expected entity is the detection's entity; a detection overlapping only a
    look-alike, filler or a gold span of another type (an SSN reported as a phone) is not.
    """
    recall: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    reported: Counter[str] = Counter()
    look_hit: Counter[str] = Counter()
    look_total: Counter[str] = Counter()
    leaked: list[tuple[str, str, str]] = []
    hits: list[tuple[str, str, str]] = []
    for doc in docs:
        found = detect(doc.text)
        covered = bytearray(len(doc.text))
        for _, s, e in found:
            covered[s:e] = b"\x01" * (e - s)
        for span in doc.gold:
            totals[span.kind] += 1
            if all(covered[i] or doc.text[i].isspace() for i in range(span.start, span.end)):
                recall[span.kind] += 1
            else:
                leaked.append((doc.id, span.kind, span.value))
        for entity, s, e in found:
            reported[entity] += 1
            if any(GOLD_ENTITY[g.kind] == entity and g.start < e and s < g.end for g in doc.gold):
                correct[entity] += 1
        for span in doc.lookalikes:
            look_total[span.kind] += 1
            if any(s < span.end and span.start < e for _, s, e in found):
                look_hit[span.kind] += 1
                hits.append((doc.id, span.kind, span.value))
    return Score(
        recall={k: (recall[k], totals[k]) for k in GOLD_ENTITY if totals[k]},
        precision={e: (correct[e], reported[e]) for e in sorted(reported)},
        lookalikes={k: (look_hit[k], look_total[k]) for k in LOOKALIKE_KINDS if look_total[k]},
        leaked=leaked,
        lookalikes_hit=hits,
    )
