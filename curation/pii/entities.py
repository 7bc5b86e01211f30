"""The PII entities: which are detected offline by patterns, which need an NER model, and which
wins when two recognizers report the same span. (A module of its own so that the recognizers and the
stage share it without importing the package that exposes them.)"""

from __future__ import annotations

LANGUAGE = "en"

# Pattern entities, detected offline with no model. Names follow Presidio's where it has one.
PATTERN_ENTITIES = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "IP_ADDRESS",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "URL_CREDENTIALS",
    "AWS_ACCESS_KEY",
    "PRIVATE_KEY",
    "API_TOKEN",
)
# Presidio's spaCy NER entities (``enable_ner``: every token through the model; slow, see README.md here).
NER_ENTITIES = ("PERSON", "LOCATION")
# Our own detectors (``names``, ``addresses``: curation/pii/names.py and addresses.py), on by default.
NAME_ENTITIES = ("PERSON", "STREET_ADDRESS")
# Trigger literals of the AWS key and API token recognizers (curation.pii.recognizers): every AWS
# access key id starts with one of the first; every token shape and AWS secret name holds one of the
# second. Here so that curation.pii.lines marks their lines without importing Presidio.
AWS_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA")
API_TOKEN_LITERALS = ("AIza", "SG.", "eyJ", "ecretAccessKey", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_",
                      "sk_live_", "rk_live_", "hf_", "npm_", "ccess_", "CCESS_", "glpat-", "xoxa-", "xoxb-", "xoxp-",
                      "xoxr-", "xoxs-", "pypi-", "sk-")
# Which entity wins when two recognizers report the same span: the more specific check first.
PRIORITY = ("PRIVATE_KEY", "API_TOKEN", "AWS_ACCESS_KEY", "URL_CREDENTIALS", "IBAN_CODE", "CREDIT_CARD", "US_SSN",
            "EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER", "STREET_ADDRESS", "PERSON", "LOCATION")


def remove_overlaps(spans: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Non-overlapping ``(entity, start, end)`` spans, deterministically: earliest start, then
    longest, then ``PRIORITY``."""
    rank = {e: i for i, e in enumerate(PRIORITY)}
    ordered = sorted(set(spans), key=lambda r: (r[1], r[1] - r[2], rank.get(r[0], len(rank)), r[0]))
    kept: list[tuple[str, int, int]] = []
    for span in ordered:
        if not kept or span[1] >= kept[-1][2]:
            kept.append(span)
    return kept
