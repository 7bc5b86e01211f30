"""PII redaction with offline Presidio: custom recognizers, a pre-screen, typed placeholders.

``PIIRedactor`` (stage name ``pii``) lives in :mod:`curation.pii.redact`; the recognizers, NLP
engine and analyzer factory in :mod:`curation.pii.recognizers`. Importing this package or
``redact`` does not import Presidio or spaCy (about a second): the stage loads them when first
used, so registering it costs nothing to runs that do not use it.
"""

from __future__ import annotations

from typing import Any

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
# Entities that need a spaCy NER model (none is installed by default; see README.md here).
NER_ENTITIES = ("PERSON", "LOCATION")
# Which entity wins when two recognizers report the same span: the more specific check first.
PRIORITY = ("PRIVATE_KEY", "API_TOKEN", "AWS_ACCESS_KEY", "URL_CREDENTIALS", "IBAN_CODE", "CREDIT_CARD", "US_SSN",
            "EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER", "PERSON", "LOCATION")

__all__ = ["LANGUAGE", "NER_ENTITIES", "PATTERN_ENTITIES", "PRIORITY", "PIIRedactor"]


def __getattr__(name: str) -> Any:
    if name == "PIIRedactor":
        from curation.pii.redact import PIIRedactor

        return PIIRedactor
    raise AttributeError(name)
