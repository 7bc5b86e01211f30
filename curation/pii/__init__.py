"""PII redaction with offline Presidio: custom recognizers, a pre-screen, typed placeholders.

``PIIRedactor`` (stage name ``pii``) lives in :mod:`curation.pii.redact`; the recognizers, NLP
engine and analyzer factory in :mod:`curation.pii.recognizers`. Importing this package or
``redact`` does not import Presidio or spaCy (about a second): the stage loads them when first
used, so registering it costs nothing to runs that do not use it.
"""

from __future__ import annotations

from typing import Any

from curation.pii.entities import LANGUAGE, NER_ENTITIES, PATTERN_ENTITIES, PRIORITY

__all__ = ["LANGUAGE", "NER_ENTITIES", "PATTERN_ENTITIES", "PRIORITY", "PIIRedactor"]


def __getattr__(name: str) -> Any:
    if name == "PIIRedactor":
        from curation.pii.redact import PIIRedactor

        return PIIRedactor
    raise AttributeError(name)
