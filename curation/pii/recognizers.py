"""Offline Presidio recognizers, NLP engine and registry for the PII stage.

Every recognizer here is a Presidio ``LocalRecognizer`` that finds candidates with one stdlib
regex and accepts or rejects each with a Python check (checksum, number shape, reserved ranges,
placeholder values). A candidate never spans a newline and its check reads nothing beyond the
candidate's line: that is what makes the pre-screen in :mod:`curation.pii.redact` exact (see its
docstring). The one multi-line entity, ``PRIVATE_KEY``, is scanned from its ``-----BEGIN`` line
forward.

Differences from Presidio's predefined recognizers, each from a false positive or a leak seen on
real documents (ANCHORS.md):

- no ``UK_NHS``, ``URL``, ``DATE_TIME``, ``UUID``, ``US_DRIVER_LICENSE``, ... recognizers: out of
  scope, and the source of most over-redaction (a US phone reported as ``UK_NHS`` with score 1.0,
  ``john.sm`` reported as a URL, every UUID and half of the dates);
- phones are matched by shape, not by ``phonenumbers`` validity (Faker's numbers, like many
  real ones, are not in allocated ranges, and Presidio's phone matcher also reports SSNs);
- cards accept 12-19 digits (Presidio's pattern stops at 17 and leaks 19-digit Visa numbers) and
  must pass Luhn *and* match a card brand's prefix and length;
- e-mail domains must have a public suffix (tldextract, pinned to its bundled snapshot: no
  network, no cache directory) and must not be reserved placeholders (``example.com``, ``.test``);
  ``git@``/``hg@`` forge accounts and service logins in scp syntax (``root@host:/etc``) are SSH
  remotes, not mailboxes (``git@github.com:org/repo`` came out as ``<EMAIL>:org/repo``);
- IP addresses in loopback, private, link-local, documentation, multicast and reserved ranges
  are not personal data and are kept (as DataTrove does for IPv4).

Example:
    >>> engine = build_analyzer()
    >>> [(r.entity_type, r.start, r.end) for r in engine.analyze("mail a.b@gmx.de now", "en")]
    [('EMAIL_ADDRESS', 5, 15)]
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, ClassVar

import sys
from contextlib import contextmanager

import phonenumbers


@contextmanager
def _without(*modules: str):
    """Make ``modules`` unimportable for the duration (then importable again). Presidio's package
    imports its transformers NLP engine, and spaCy's thinc probes for torch: with both installed
    that is ~5 s per worker process for engines this stage never uses (the blank pipeline needs
    neither)."""
    absent = [m for m in modules if m not in sys.modules]
    for m in absent:
        sys.modules[m] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for m in absent:
            if sys.modules.get(m, 0) is None:
                del sys.modules[m]


with _without("transformers", "torch"):
    import spacy
    from presidio_analyzer import AnalyzerEngine, EntityRecognizer, LocalRecognizer, RecognizerResult
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer, LemmaContextAwareEnhancer
    from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngineProvider, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import SpacyRecognizer
    from presidio_analyzer.recognizer_registry import RecognizerRegistry

from curation.pii.entities import API_TOKEN_LITERALS, AWS_KEY_PREFIXES, LANGUAGE, NER_ENTITIES, PATTERN_ENTITIES
from curation.web.urls import offline_tldextract

SCORE = 1.0  # every recognizer here decides; there is no "weak" result to threshold later

# The pre-screen trigger of every digit-based recognizer, in one scan:
# - cards (12+ digits), SSNs (9) and phones (9+) hold nine digits with at most three of " ().-"
#   between two of them (cards and SSNs at most one);
# - a dotted quad holds "d.d{1,3}.d{1,3}.d";
# - an IBAN starts with two capitals and two digits.
# Starting with \d lets the regex engine skip to the next digit; three scans would cost three times
# as much.
DIGIT_TRIGGER = r"\d(?:(?:[ ().-]{0,3}\d){8}|\.\d{1,3}\.\d{1,3}\.\d|(?<=[A-Z]{2}\d)\d)"


def line_start(text: str, pos: int) -> int:
    """Index of the first character of the line holding ``pos``."""
    return text.rfind("\n", 0, pos) + 1


def before(text: str, pos: int, n: int) -> str:
    """At most ``n`` characters before ``pos``, never crossing a newline."""
    return text[max(line_start(text, pos), pos - n):pos]


def after(text: str, pos: int, n: int) -> str:
    """At most ``n`` characters from ``pos`` on, never crossing a newline."""
    chunk = text[pos:pos + n]
    nl = chunk.find("\n")
    return chunk if nl < 0 else chunk[:nl]


class RegexRecognizer(LocalRecognizer):
    """A recognizer with one candidate regex and a Python check per candidate.

    Subclass names start with ``Curation``: Presidio's registry loader finds predefined
    recognizers by class name among *all* ``EntityRecognizer`` subclasses, so a class named
    ``EmailRecognizer`` here would replace Presidio's own in every default ``AnalyzerEngine``.

    Subclasses set ``ENTITY`` and ``PATTERN`` (a compiled stdlib regex that never matches a
    newline) and implement :meth:`accept`, which returns the span to report (by default the
    match) or None. ``accept`` may read the rest of the match's line, never another line.
    """

    ENTITY: ClassVar[str]
    PATTERN: ClassVar[re.Pattern[str]]
    # Pre-screen triggers (see curation/pii/redact.py): the recognizer can accept something on
    # a line only if the line contains one of the literals or a match of one of the regexes. A
    # necessary condition, so never a reason to miss; no trigger spans a newline.
    TRIGGER_LITERALS: ClassVar[tuple[str, ...]] = ()
    TRIGGER_REGEXES: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        super().__init__(supported_entities=[self.ENTITY], supported_language=LANGUAGE, name=type(self).__name__)

    def load(self) -> None:  # nothing to load: patterns are compiled at import
        pass

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        raise NotImplementedError

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Accepted spans in ``text``; what :meth:`analyze` reports, without Presidio objects."""
        return [span for m in self.PATTERN.finditer(text) if (span := self.accept(text, m))]

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        meta = {RecognizerResult.RECOGNIZER_NAME_KEY: self.name, RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}
        return [RecognizerResult(self.ENTITY, s, e, SCORE, recognition_metadata=dict(meta))
                for s, e in self.spans(text)]


# ---------------------------------------------------------------- e-mail and URL credentials

# RFC 2606 / RFC 6761 reserved names, plus "example" under any suffix (example.de, example.co.uk):
# documentation placeholders, not anyone's address.
RESERVED_TLDS = frozenset({"example", "test", "invalid", "localhost", "local"})


@lru_cache(maxsize=65536)
def is_public_domain(domain: str) -> bool:
    """True if ``domain`` ends in a public suffix and is not a reserved placeholder."""
    domain = domain.lower().rstrip(".")
    labels = domain.split(".")
    if labels[-1] in RESERVED_TLDS:
        return False
    parts = offline_tldextract()(domain)
    return bool(parts.suffix) and bool(parts.domain) and parts.domain != "example"


_ATEXT = r"[\w!#$%&'*+/=?^`{|}~-]"
_DOMAIN = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"


# The shared SSH account of git and Mercurial hosting (git@github.com, hg@bitbucket.org): a
# service, never a person's mailbox, wherever it is written ("ssh -T git@github.com").
FORGE_SSH_USERS = frozenset({"git", "hg"})
# Shared or system SSH logins: not a person when written as an scp-style remote (user@host:path).
SSH_SERVICE_USERS = FORGE_SSH_USERS | frozenset({
    "svn", "aur", "root", "admin", "deploy", "ubuntu", "debian", "centos", "fedora", "ec2-user", "core", "pi",
    "vagrant",
})
# scp syntax: the address is followed by ":" and the path, with no space (``git@host:org/repo``,
# ``root@host:/etc``, ``deploy@host:~/app``); "john@gmx.de: call him" is followed by a space.
_SCP_PATH = re.compile(r":[\w~./-]")


class CurationEmailRecognizer(RegexRecognizer):
    """E-mail addresses whose domain has a public suffix; ``example.com`` placeholders are kept, and
    so are SSH logins of service accounts (``git@github.com:org/repo``, ``root@host:/etc``)."""

    ENTITY = "EMAIL_ADDRESS"
    TRIGGER_LITERALS = ("@",)
    PATTERN = re.compile(
        # not inside a longer token or a URL's user:password@ part, except after "mailto:"
        # (ssh://git@host/... is a URL's user part, so never a candidate)
        rf"(?:(?<=mailto:)|(?<![\w.!#$%&'*+/=?^`{{|}}~@:-]))"
        rf"(?P<local>{_ATEXT}+(?:\.{_ATEXT}+)*)@(?P<domain>{_DOMAIN})(?![\w-]|\.[A-Za-z0-9])"
    )

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        if not is_public_domain(match["domain"]):
            return None
        local = match["local"].lower()
        if local in FORGE_SSH_USERS:
            return None
        # A personal login in scp syntax (jdoe@build.corp.com:~/src) stays redacted: the user name
        # identifies the person and is often their mailbox at that domain.
        if local in SSH_SERVICE_USERS and _SCP_PATH.match(after(text, match.end(), 2)):
            return None
        return match.span()


# Placeholder passwords in documentation ("postgresql://user:secret@localhost"), not leaks.
PLACEHOLDER_PASSWORDS = frozenset({
    "password", "passwd", "pass", "pwd", "secret", "changeme", "mypassword", "yourpassword",
    "xxx", "xxxx", "xxxxxx", "***", "****", "******", "...", "p4ssw0rd", "passw0rd",
})
_TEMPLATE = re.compile(r"^(?:<.*>|\$\{.*\}|\$\w+|\{.*\}|%\(.*\)s|\[.*\])$")


class CurationUrlCredentialsRecognizer(RegexRecognizer):
    """``user:password@`` in a URL; the reported span is ``user:password``, the host stays."""

    ENTITY = "URL_CREDENTIALS"
    TRIGGER_LITERALS = ("@",)
    PATTERN = re.compile(
        r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://(?P<cred>[^\s:/?#@\[\]\"'<>]+:(?P<password>[^\s/?#@\[\]\"'<>]+))@"
        r"(?P<host>[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])"
    )

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        password = match["password"]
        if password.lower() in PLACEHOLDER_PASSWORDS or _TEMPLATE.match(password):
            return None
        host = match["host"].lower().rstrip(".")
        labels = host.split(".")
        if labels[-1] in RESERVED_TLDS or (len(labels) >= 2 and "example" in labels[-3:-1]):
            return None
        return match.span("cred")


# ---------------------------------------------------------------- IP addresses

# Addresses that name no host anywhere: never redacted. Unspecified, loopback, documentation
# (RFC 5737, RFC 3849) and the limited broadcast.
NON_HOST_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/32", "127.0.0.0/8", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "255.255.255.255/32",
    "::/128", "::1/128", "2001:db8::/32",
))
# Private and reserved ranges of both families: a host on a private network (a server in a log
# line, a printer, a VPN peer) identifies it as well as a public address does, so they are redacted
# by default; ``private_ips="keep"`` keeps them. IPv4: this-network, RFC 1918, CGNAT, link-local,
# IETF protocol assignments, benchmarking, multicast, reserved. IPv6: unique-local, link-local,
# multicast. (IPv4-mapped IPv6 addresses are judged by the IPv4 address they carry.)
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
    "fc00::/7", "fe80::/10", "ff00::/8",
))
PRIVATE_IP_POLICIES = ("redact", "keep")
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# A dotted quad right after one of these words is a version or section number, not an address.
_VERSIONISH = re.compile(
    r"(?:\b(?:version|versions|ver|release|kernel|linux|build|rev|revision|section|sections|chapter|"
    r"figure|table|step|rule|clause|oid)\b\.?|§)[\s:=]*$",
    re.IGNORECASE,
)
# Presidio's IPv6 pattern (IpRecognizer, presidio-analyzer 2.2), without the IPv4-embedded forms.
_IPV6 = (
    r"(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:|"
    r"(?:[0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,5}(?::[0-9A-Fa-f]{1,4}){1,2}|"
    r"(?:[0-9A-Fa-f]{1,4}:){1,4}(?::[0-9A-Fa-f]{1,4}){1,3}|(?:[0-9A-Fa-f]{1,4}:){1,3}(?::[0-9A-Fa-f]{1,4}){1,4}|"
    r"(?:[0-9A-Fa-f]{1,4}:){1,2}(?::[0-9A-Fa-f]{1,4}){1,5}|[0-9A-Fa-f]{1,4}:(?::[0-9A-Fa-f]{1,4}){1,6}|"
    r":(?::[0-9A-Fa-f]{1,4}){1,7})"
)


class CurationIpRecognizer(RegexRecognizer):
    """IPv4 and IPv6 host addresses: never ``NON_HOST_NETWORKS`` nor netmasks (``255.255.255.0``);
    ``PRIVATE_NETWORKS`` unless ``private_ips="keep"``."""

    ENTITY = "IP_ADDRESS"
    # A dotted quad holds "d.d{1,3}.d{1,3}.d"; an IPv6 with 3+ groups holds ":" hex{0,4} ":".
    TRIGGER_REGEXES = (DIGIT_TRIGGER, r":[0-9A-Fa-f]{0,4}:")
    # The look-aheads are necessary conditions (an address starts with a hex digit or ":", an IPv6
    # one has a ":" within its first five characters): they change no match, and let the regex
    # engine skip to the next candidate instead of trying both look-behinds and the eight IPv6
    # forms at every position (3x faster on the bench corpus's digit lines).
    PATTERN = re.compile(
        rf"(?=[0-9A-Fa-f:])(?:(?<![\w.])(?P<v4>{_OCTET}(?:\.{_OCTET}){{3}})(?![\w]|\.\d|[-~+]\d)"  # not 2.10.0.27-0
        rf"|(?<![\w:.])(?=[0-9A-Fa-f]{{0,4}}:)(?P<v6>{_IPV6})(?![\w:]|\.\d))"
    )

    def __init__(self, private_ips: str = "redact") -> None:
        if private_ips not in PRIVATE_IP_POLICIES:
            raise ValueError(f"private_ips must be one of {PRIVATE_IP_POLICIES}, got {private_ips!r}")
        self.private_ips = private_ips
        super().__init__()

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        value = match.group()
        if match["v4"]:
            if sum(len(octet) == 1 for octet in value.split(".")) >= 3:  # 1.2.3.4, section 34.1.1.3
                return None
            head, tail = before(text, match.start(), 40), after(text, match.end(), 2)
            if _VERSIONISH.search(head):
                return None
            if not head.strip() and tail[:1] == "." and tail[1:2].isspace():
                return None  # "24.12.20.11. Title": a numbered heading at the start of a line
        else:
            groups = [g for g in value.split(":") if g]
            if len(groups) < 3:  # Foo::bar, a::1: code, not addresses
                return None
            if all(len(g) == 1 for g in groups):  # [1:2:3:4:5:6:7:8] in a format description
                return None
            if len(groups) >= 6 and all(len(g) == 2 for g in groups):  # f9:2a:c2:77:29:f9:5c:00: a DUID
                return None
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if _is_netmask(address):
            return None  # 255.255.255.0, ffff:ffff:ffff:ffff::: a mask, not a host
        prefix = re.match(r"/(\d{1,3})(?!\d)", after(text, match.end(), 4))
        if prefix and int(prefix.group(1)) <= address.max_prefixlen:
            host_bits = address.max_prefixlen - int(prefix.group(1))
            if int(address) & ((1 << host_bits) - 1) == 0:
                return None  # 192.168.1.0/24, fd00::/8: a network, not a host
        elif isinstance(address, ipaddress.IPv4Address) and int(address) & 0xFFFF == 0:
            return None  # 10.20.0.0: a network (a.b.c.0 alone can be a host in a /23 and up)
        if any(address in net for net in NON_HOST_NETWORKS if net.version == address.version):
            return None
        if self.private_ips == "keep" and any(address in net for net in PRIVATE_NETWORKS
                                              if net.version == address.version):
            return None
        return match.span()


def _is_netmask(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Contiguous ones then zeros, the first 8 bits ones: 255.0.0.0 to 255.255.255.254, ffff::."""
    width = address.max_prefixlen
    bits = int(address)
    inverted = ~bits & ((1 << width) - 1)
    return bits >> (width - 8) == 0xFF and (inverted & (inverted + 1)) == 0


# ---------------------------------------------------------------- numbers: cards, SSNs, IBANs, phones

def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


# (first IIN, last IIN, allowed lengths): Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay,
# Maestro, after the ISO/IEC 7812 issuer tables that card generators (Faker's included) follow.
_CARD_BRANDS: tuple[tuple[str, str, frozenset[int]], ...] = tuple(
    (lo, hi, frozenset(lengths)) for lo, hi, lengths in (
        ("4", "4", (13, 16, 19)),                                          # Visa
        ("51", "55", (16,)), ("2221", "2720", (16,)),                      # Mastercard
        ("34", "34", (15,)), ("37", "37", (15,)),                          # American Express
        ("6011", "6011", range(16, 20)), ("644", "649", range(16, 20)), ("65", "65", range(16, 20)),  # Discover
        # JCB: 3528-3589 are issued; generators (Faker) use all of 35xx.
        ("3500", "3599", range(16, 20)), ("1800", "1800", (15,)), ("2131", "2131", (15,)),
        ("300", "305", range(14, 20)), ("36", "36", range(14, 20)), ("38", "39", range(14, 20)),  # Diners
        ("62", "62", range(16, 20)),                                       # UnionPay
        ("50", "50", range(12, 20)), ("56", "69", range(12, 20)), ("0604", "0604", range(12, 20)),  # Maestro
    )
)


def card_brand_ok(digits: str) -> bool:
    return any(lo <= digits[:len(lo)] <= hi and len(digits) in lengths for lo, hi, lengths in _CARD_BRANDS)


# A grouped IBAN in progress ("GB79 SWVD 5093 0213 2936 47"): its digit groups are not a card or phone.
_IBAN_BEFORE = re.compile(r"\b[A-Z]{2}\d{2}(?: [A-Z0-9]{4})+ $")


class CurationCreditCardRecognizer(RegexRecognizer):
    """12-19 digit card numbers, plain or in groups of four, Luhn-checked, with a known brand prefix."""

    ENTITY = "CREDIT_CARD"
    TRIGGER_REGEXES = (DIGIT_TRIGGER,)
    PATTERN = re.compile(
        r"(?<![\w.+/-])(?:\d{12,19}|\d{4}(?P<sep>[ -])\d{4}(?P=sep)\d{4}(?:(?P=sep)\d{1,4}){1,2}"
        r"|\d{4}(?P<sep2>[ -])\d{6}(?P=sep2)\d{4,5})(?![\w]|[.-]?\d)"
    )

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        digits = re.sub(r"\D", "", match.group())
        if len(set(digits)) < 3 or not card_brand_ok(digits) or not luhn_ok(digits):
            return None
        if _IBAN_BEFORE.search(before(text, match.start(), 48)):
            return None
        return match.span()


_SSN_EXAMPLES = frozenset({"123456789", "078051120", "219099999"})  # published examples, not people


class CurationUsSsnRecognizer(RegexRecognizer):
    """US SSNs written ``123-45-6789``; invalid areas (000, 666, 9xx), groups and serials are kept."""

    ENTITY = "US_SSN"
    TRIGGER_REGEXES = (DIGIT_TRIGGER,)
    PATTERN = re.compile(r"(?<![\w.+/-])(?P<area>\d{3})-(?P<group>\d{2})-(?P<serial>\d{4})(?![\w]|[.-]?\d)")

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        area, group, serial = match["area"], match["group"], match["serial"]
        if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
            return None
        if area + group + serial in _SSN_EXAMPLES:
            return None
        return match.span()


# IBAN length per country, from the SWIFT IBAN registry (ISO 13616). Not Presidio's per-country
# patterns (iban_patterns.py, presidio-analyzer 2.2.366), which are four characters short for MU,
# PS, PT and QA if read as full matches; the length plus the mod-97 check is what matters.
IBAN_LENGTHS = dict(
    AD=24, AE=23, AL=28, AT=20, AZ=28, BA=20, BE=16, BG=22, BH=22, BI=27, BR=29, BY=28, CH=21, CR=22, CY=28,
    CZ=24, DE=22, DJ=27, DK=18, DO=28, EE=20, EG=29, ES=24, FI=18, FK=18, FO=18, FR=27, GB=22, GE=22, GI=23,
    GL=18, GR=27, GT=28, HN=28, HR=21, HU=28, IE=22, IL=23, IQ=23, IS=26, IT=27, JO=30, KW=30, KZ=20, LB=28,
    LC=32, LI=21, LT=20, LU=20, LV=21, LY=25, MC=27, MD=24, ME=22, MK=19, MN=20, MR=27, MT=31, MU=30, NI=28,
    NL=18, NO=15, OM=23, PK=24, PL=28, PS=29, PT=25, QA=29, RO=24, RS=22, RU=33, SA=24, SC=31, SD=18, SE=24,
    SI=19, SK=24, SM=27, SO=23, ST=25, SV=28, TL=23, TN=24, TR=26, UA=29, VA=22, VG=24, XK=20, YE=30,
)


def iban_checksum_ok(iban: str) -> bool:
    """ISO 7064 mod 97-10: move the first four characters to the end, letters to 10..35."""
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


class CurationIbanRecognizer(RegexRecognizer):
    """IBANs, plain or in groups of four: the country's length and the ISO 7064 mod-97 check."""

    ENTITY = "IBAN_CODE"
    TRIGGER_REGEXES = (DIGIT_TRIGGER,)
    PATTERN = re.compile(r"(?<![\w])(?P<cc>[A-Z]{2})\d{2}(?: ?[A-Z0-9]){11,32}(?![A-Za-z0-9])")

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        expected = IBAN_LENGTHS.get(match["cc"])
        if expected is None:
            return None
        # The pattern may run on into a following group of capitals or digits ("... 51 AND"):
        # cut it at the country's length, which must fall at the end of a group.
        value, count = match.group(), 0
        for end, ch in enumerate(value, 1):
            count += ch != " "
            if count == expected:
                break
        else:
            return None
        if end < len(value) and value[end] != " ":
            return None
        return (match.start(), match.start() + end) if iban_checksum_ok(value[:end].replace(" ", "")) else None


# Phones: a permissive run of digit groups, then a shape check. Between two digit groups there is
# one of " .-", or a parenthesis with at most one of " .-" on each side: never more than three
# characters, which the pre-screen relies on.
_PHONE_KEYWORDS = re.compile(
    r"\b(?:phone|tel|telephone|mobile|cell|fax|call|contact|whatsapp|sms|tél|téléphone|telefon|"
    r"handy|telefono|teléfono|móvil|cellulare)\b[^\n]{0,24}$",
    re.IGNORECASE,
)
_ISBN_BEFORE = re.compile(r"\bISBN(?:-?1[03])?\W{0,3}$", re.IGNORECASE)
_NANP = re.compile(r"(?:1[ .-]?)?(?:\(\d{3}\) ?|\d{3}(?P<s>[ .-]))\d{3}(?(s)(?P=s)|[ .-])\d{4}")
_SSN_SHAPE = re.compile(r"\d{3}-\d{2}-\d{4}")  # an SSN is never reported as a phone
_ZIP4_SHAPE = re.compile(r"\d{5}-\d{4}")  # US ZIP+4 postal code
_DATE = re.compile(r"(?<!\d)(?:19|20)\d\d[ ./-](?:0?[1-9]|1[0-2])[ ./-](?:0?[1-9]|[12]\d|3[01])(?!\d)")
_RUNS = ("0123456789" * 2, "9876543210" * 2)  # "0123456789" is string.digits, not a number


def _country_code_ok(digits: str) -> bool:
    return any(int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE for n in (1, 2, 3))


class CurationPhoneRecognizer(RegexRecognizer):
    """Phone numbers in US and international written forms, by shape.

    Accepted: ``+CC ...`` with a real country code; ``00CC ...``; a trunk ``0`` national number
    (``0121 496 0123``, ``04 30 12 99 99``, ``(0141) 4960014``); a North American ``(555) 123-4567``,
    ``555.123.4567`` or ``555-123-4567``; each with 9-15 digits, an optional ``x123`` extension,
    no group of one digit after the first (or after the country code), and no date or ISBN shape.
    A bare run of 9-12 digits not starting with 0 (``7802239208``) is a phone only after a word
    like "phone" or "call" on the same line: elsewhere it is a count, an id or 2**32 - 1.
    """

    ENTITY = "PHONE_NUMBER"
    TRIGGER_REGEXES = (DIGIT_TRIGGER,)
    PATTERN = re.compile(
        r"(?<![\w+./~-])(?:\+|\(\+?)?\d+(?:(?:[ .-]?[()][ .-]?|[ .-])\d+)*\)?"
        r"(?P<ext>[ ]?(?:x|ext\.?|#)[ ]?\d{1,6})?(?![\w/+~]|[.-]?\d|:\d)"
    )

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        value = match.group()
        body = value[: match.start("ext") - match.start()] if match["ext"] else value
        if not self._shape_ok(body.rstrip(), text, match.start()):
            return None
        return match.span()

    @staticmethod
    def _shape_ok(body: str, text: str, start: int) -> bool:
        if re.search(r"[ ().-]{3}|  |\.\.|--|\)\(|\(\)", body):
            return False
        if body.count("(") != body.count(")") or body.count("(") > 2:
            return False
        if _SSN_SHAPE.fullmatch(body) or _ZIP4_SHAPE.fullmatch(body) or _DATE.search(body):
            return False
        if _ISBN_BEFORE.search(before(text, start, 20)) or _IBAN_BEFORE.search(before(text, start, 48)):
            return False
        national = body.replace("(0)", "", 1) if body.startswith("+") else body
        digits = re.sub(r"\D", "", national)
        if not 9 <= len(digits) <= 15 or len(set(digits)) < 4 or any(digits in run for run in _RUNS):
            return False  # 111-222-3333 and 0123456789 are placeholders
        groups = re.findall(r"\d+", national)
        inner = groups[2:-1] if body.startswith("+") else groups[1:-1]  # "+33 1 79 16 07 41"
        if any(len(g) == 1 for g in inner) or (len(groups) > 1 and len(groups[-1]) == 1):
            return False
        if sum(g.startswith("0") for g in groups) >= 3:  # "012 013 023", "0037 0002 00 00": dumps
            return False
        seps = set(re.findall(r"[ .-]", body))
        if body.startswith("+"):
            return _country_code_ok(digits) and len(digits) >= 8
        if body.startswith("00") and digits[2] != "0" and "." not in seps and _country_code_ok(digits[2:]):
            return 10 <= len(digits) <= 15  # 00 international prefix: 001-500-898-2618
        if _NANP.fullmatch(body):
            return True
        if "." in seps:  # dotted numbers are versions and addresses unless NANP-shaped
            return False
        if groups[0] == "0":  # "0 4294967295": a zero in a column, not a trunk prefix
            return False
        if body.startswith("(0") or body.startswith("0"):
            if len(groups) == 1 and len(digits) > 11:  # 000102030405, octal 033653337357
                return False
            if digits.startswith("000"):  # offsets in dumps ("0000120 007"), unless called a phone
                return 9 <= len(digits) <= 12 and bool(_PHONE_KEYWORDS.search(before(text, start, 48)))
            return 9 <= len(digits) <= 12
        if body.startswith("("):  # (591)341-7776 is NANP; other parenthesised areas need the 0
            return False
        if len(groups) == 1 and 9 <= len(digits) <= 12:
            return bool(_PHONE_KEYWORDS.search(before(text, start, 48)))
        return False


# ---------------------------------------------------------------- secrets

def _low_entropy(token: str) -> bool:
    """Placeholders such as ghp_xxxx... or AKIA0000...: too few distinct characters to be a key."""
    return len(set(token)) < 6 or "EXAMPLE" in token.upper() or "XXXXXX" in token.upper()




class CurationAwsAccessKeyRecognizer(RegexRecognizer):
    """AWS access key ids (``AKIA``/``ASIA``/... + 16 characters); AWS's ``...EXAMPLE`` ids are kept."""

    ENTITY = "AWS_ACCESS_KEY"
    TRIGGER_LITERALS = AWS_KEY_PREFIXES
    PATTERN = re.compile(rf"(?<![A-Za-z0-9])(?:{'|'.join(AWS_KEY_PREFIXES)})[A-Z0-9]{{16}}(?![A-Za-z0-9])")

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        return None if _low_entropy(match.group()[4:]) else match.span()


# Token shapes published by the issuers (and used by secret scanners such as gitleaks).
API_TOKEN_SHAPES = {
    "github": r"gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{82}",
    "gitlab": r"glpat-[A-Za-z0-9_-]{20}",
    "slack": r"xox[baprs]-[A-Za-z0-9-]{10,72}",
    "stripe": r"(?:sk|rk)_live_[A-Za-z0-9]{24,99}",
    "google_api": r"AIza[0-9A-Za-z_-]{35}",
    "openai": r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|sk-proj-[A-Za-z0-9_-]{40,}",
    "anthropic": r"sk-ant-(?:api|admin)\d\d-[A-Za-z0-9_-]{80,}",
    "huggingface": r"hf_[A-Za-z]{34}",
    "npm": r"npm_[A-Za-z0-9]{36}",
    "pypi": r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
    "sendgrid": r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
    "jwt": r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",
}
# AWS secret keys have no prefix: only after one of their conventional names (config file,
# environment variable, STS JSON, SDK argument).
AWS_SECRET_NAMES = ("secret_access_key", "SECRET_ACCESS_KEY", "SecretAccessKey", "secretAccessKey")
_AWS_SECRET = (rf"(?:{'|'.join(AWS_SECRET_NAMES)})[\"']?[ \t]*[:=][ \t]*[\"']?(?P<aws_secret>[A-Za-z0-9/+=]{{40}})")


class CurationApiTokenRecognizer(RegexRecognizer):
    """Provider-issued API tokens (GitHub, GitLab, Slack, Stripe, Google, OpenAI, Anthropic, Hugging
    Face, npm, PyPI, SendGrid, JWTs) and AWS secret keys after their name; placeholders are kept."""

    ENTITY = "API_TOKEN"
    TRIGGER_LITERALS = API_TOKEN_LITERALS  # every token shape and AWS secret name holds one
    PATTERN = re.compile(
        r"(?<![A-Za-z0-9_-])(?:" + "|".join(API_TOKEN_SHAPES.values()) + r")(?![A-Za-z0-9_-])|" + _AWS_SECRET
        + r"(?![A-Za-z0-9/+=])"
    )

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:
        span = match.span("aws_secret") if match["aws_secret"] else match.span()
        token = text[span[0]:span[1]]
        body = token.split("_", 1)[-1] if "_" in token[:12] else token
        return None if _low_entropy(body) else span


class CurationPrivateKeyRecognizer(RegexRecognizer):
    """PEM/OpenSSH/PGP private-key blocks, from ``-----BEGIN ... PRIVATE KEY-----`` to the END line
    or, if the block is cut off, to its last base64 line. Needs 64+ base64 characters of body:
    ``-----BEGIN RSA PRIVATE KEY-----\\n...`` in a manual is an illustration, not a key."""

    ENTITY = "PRIVATE_KEY"
    # Multi-line, so no line trigger: the stage windows it from BLOCK_START to the end of the text.
    BLOCK_START = "-----BEGIN "
    PATTERN = re.compile(r"-----BEGIN (?P<kind>(?:[A-Z0-9]+ )*)PRIVATE KEY(?: BLOCK)?-----")
    _BODY_LINE = re.compile(r"[ \t]*(?:[A-Za-z0-9+/=]{4,}|[A-Za-z-]+: .*|)[ \t\r]*")
    _END = re.compile(r"[ \t]*-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")

    def spans(self, text: str) -> list[tuple[int, int]]:
        spans: list[tuple[int, int]] = []
        pos = 0
        while (m := self.PATTERN.search(text, pos)) is not None:
            span = self._block(text, m)
            if span is not None:
                spans.append(span)
            pos = span[1] if span is not None else m.end()
        return spans

    def _block(self, text: str, m: re.Match[str]) -> tuple[int, int] | None:
        """Scan forward line by line from a BEGIN marker; never past the first line that is not
        a header (``Proc-Type: ...``), a base64 line or, before the base64 starts, a blank line."""
        nl = text.find("\n", m.end())
        if text[m.end():len(text) if nl < 0 else nl].strip():
            return None  # the marker must end its line
        body, last = 0, m.end()
        while nl >= 0:
            start = nl + 1
            nl = text.find("\n", start)
            line = text[start:len(text) if nl < 0 else nl]
            if (end := self._END.match(line)) is not None:
                return (m.start(), start + end.end()) if body >= 64 else None
            stripped = line.strip()
            if not stripped and body:
                break  # a blank line after the base64: the block was cut off here
            if not self._BODY_LINE.fullmatch(line):
                break
            if stripped and ":" not in stripped:
                body += len(stripped)
                last = start + len(line.rstrip())
        return (m.start(), last) if body >= 64 else None

    def accept(self, text: str, match: re.Match[str]) -> tuple[int, int] | None:  # pragma: no cover
        raise AssertionError("CurationPrivateKeyRecognizer overrides spans()")


RECOGNIZERS: dict[str, type[RegexRecognizer]] = {
    cls.ENTITY: cls for cls in (
        CurationEmailRecognizer, CurationPhoneRecognizer, CurationIpRecognizer, CurationCreditCardRecognizer,
        CurationUsSsnRecognizer, CurationIbanRecognizer, CurationUrlCredentialsRecognizer,
        CurationAwsAccessKeyRecognizer, CurationPrivateKeyRecognizer, CurationApiTokenRecognizer,
    )
}
assert tuple(RECOGNIZERS) == PATTERN_ENTITIES


# ---------------------------------------------------------------- NLP engine and analyzer

class OfflineSpacyNlpEngine(SpacyNlpEngine):
    """Presidio's spaCy engine that never downloads: ``blank:<lang>`` or an installed model/path.

    Selected through Presidio's NLP-engine configuration (``nlp_engine_name: spacy_offline``);
    each model entry may set ``max_length`` (spaCy's default of 1,000,000 characters would make
    a 2 MB document raise).
    """

    engine_name = "spacy_offline"
    is_available = True

    def load(self) -> None:
        self.nlp = _Pipelines()
        for model in self.models:
            self._validate_model_params(model)
            name = model["model_name"]
            if not name.startswith("blank:"):
                require_spacy_model(name)
            self.nlp.add(model["lang_code"], partial(_load_pipeline, name, model.get("max_length")))


def _load_pipeline(name: str, max_length: int | None) -> Any:
    if name.startswith("blank:"):
        nlp = spacy.blank(name.split(":", 1)[1])
    else:
        # Only the entity recognizer is used; the parser would cost time and memory.
        nlp = spacy.load(name, exclude=["parser", "senter", "textcat"])
    nlp.max_length = int(max_length or nlp.max_length)
    return nlp


class _Pipelines(dict):  # type: ignore[type-arg]
    """Language code -> spaCy pipeline, each built when first asked for: the pattern analyzer's
    windows come with their (empty) NLP artifacts and never ask, and a blank pipeline costs ~0.35 s
    in every process that builds the stage."""

    def add(self, lang: str, load: Callable[[], Any]) -> None:
        self._loaders = {**getattr(self, "_loaders", {}), lang: load}
        super().__setitem__(lang, None)

    def __getitem__(self, lang: str) -> Any:
        nlp = super().__getitem__(lang)
        if nlp is None:
            nlp = self._loaders[lang]()
            super().__setitem__(lang, nlp)
        return nlp


def require_spacy_model(name: str) -> None:
    """Raise if ``name`` is neither an installed spaCy package nor a model directory (no download)."""
    if not (spacy.util.is_package(name) or Path(name).is_dir()):
        raise ValueError(
            f"spaCy model {name!r} is not installed and will not be downloaded; install it "
            "(pip install <wheel>) or give a model directory, or leave enable_ner off"
        )


def nlp_configuration(model_name: str, max_length: int) -> dict[str, Any]:
    """The Presidio NLP-engine configuration used by the stage."""
    return {
        "nlp_engine_name": OfflineSpacyNlpEngine.engine_name,
        "models": [{"lang_code": LANGUAGE, "model_name": model_name, "max_length": max_length}],
        "ner_model_configuration": {
            "model_to_presidio_entity_mapping": {
                "PERSON": "PERSON", "PER": "PERSON", "GPE": "LOCATION", "LOC": "LOCATION", "FAC": "LOCATION",
            },
            "labels_to_ignore": ["ORG", "ORGANIZATION", "NORP", "DATE", "TIME", "CARDINAL", "ORDINAL", "MONEY",
                                 "PERCENT", "QUANTITY", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE"],
            "low_score_entity_names": [],
        },
    }


def build_nlp_engine(model_name: str = "blank:en", max_length: int = 16 << 20) -> OfflineSpacyNlpEngine:
    provider = NlpEngineProvider(nlp_engines=(OfflineSpacyNlpEngine,),
                                 nlp_configuration=nlp_configuration(model_name, max_length))
    return provider.create_engine()


class NoContextEnhancer(ContextAwareEnhancer):
    """Presidio's context step for recognizers that declare no context words: the results as they are.

    Presidio's default (``LemmaContextAwareEnhancer``) deep-copies every result, then skips each one
    whose recognizer has no context words, which is all of ours: the copies were a third of the
    pattern recognizers' time.
    """

    def __init__(self) -> None:
        super().__init__(context_similarity_factor=0, min_score_with_context_similarity=0,
                         context_prefix_count=0, context_suffix_count=0)

    def enhance_using_context(self, text: str, raw_results: list[RecognizerResult], nlp_artifacts: NlpArtifacts,
                              recognizers: list[EntityRecognizer], context: list[str] | None = None,
                              ) -> list[RecognizerResult]:
        return list(raw_results)


def build_analyzer(entities: tuple[str, ...] | list[str] = PATTERN_ENTITIES,
                   max_length: int = 16 << 20, private_ips: str = "redact") -> AnalyzerEngine:
    """A Presidio ``AnalyzerEngine`` over a blank spaCy pipeline with our pattern recognizers only."""
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    recognizers = [RECOGNIZERS[e](private_ips) if RECOGNIZERS[e] is CurationIpRecognizer else RECOGNIZERS[e]()
                   for e in entities]
    for recognizer in recognizers:
        registry.add_recognizer(recognizer)
    # Presidio's own context step where a recognizer has context words; ours have none.
    enhancer = LemmaContextAwareEnhancer() if any(r.context for r in recognizers) else NoContextEnhancer()
    return AnalyzerEngine(registry=registry, nlp_engine=build_nlp_engine("blank:en", max_length),
                          supported_languages=[LANGUAGE], default_score_threshold=0.5,
                          context_aware_enhancer=enhancer)


def build_ner_analyzer(model_name: str, max_length: int) -> AnalyzerEngine:
    """An ``AnalyzerEngine`` for PERSON and LOCATION from an installed spaCy NER model."""
    nlp_engine = build_nlp_engine(model_name, max_length)
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    registry.add_recognizer(SpacyRecognizer(supported_language=LANGUAGE, supported_entities=list(NER_ENTITIES)))
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE],
                          default_score_threshold=0.5)


__all__ = [
    "RECOGNIZERS", "OfflineSpacyNlpEngine", "RegexRecognizer", "build_analyzer", "build_ner_analyzer",
    "build_nlp_engine", "iban_checksum_ok", "luhn_ok", "nlp_configuration", "offline_tldextract",
    "require_spacy_model",
]
