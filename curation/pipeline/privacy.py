"""Text written beside the shards (removed/, quarantine/): redacted, raw or none, as the config says.

Only the shards are meant to carry text (shards/ and the held-out split's heldout/). The text of a document dropped before the PII stage (an
exact duplicate of a redacted document, say) and a quarantine preview are redacted with the chain's
``pii`` settings (its defaults when the chain has none), unless ``output.removed_text`` /
``output.quarantine_text`` ask for ``raw`` (or ``none``) by name.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from curation.config import PipelineConfig
from curation.io.readers import QuarantineRecord
from curation.registry import build_stage
from curation.stage import Dropped


class RemovedTexts(NamedTuple):
    texts: list[str | None]
    redacted: int  # how many of them the guard redacted (not the pii stage's own drops)


@dataclass(frozen=True)
class TextGuard:
    removed_policy: str
    quarantine_policy: str
    pii_params: dict[str, Any]

    @classmethod
    def for_config(cls, config: PipelineConfig) -> TextGuard:
        spec = next((s for s in config.stages if s.name == "pii"), None)
        out = config.output
        return cls(out.removed_text, out.quarantine_text, dict(spec.params) if spec else {})

    def _redact(self, texts: list[str]) -> list[str]:
        if not texts:
            return texts
        return _redactor(json.dumps(self.pii_params, sort_keys=True)).redact_texts(texts)

    def load(self) -> None:
        """Build the redactor now (Presidio and the NER models, ~1.5 s), if either policy redacts."""
        if "redacted" in (self.removed_policy, self.quarantine_policy):
            _redactor(json.dumps(self.pii_params, sort_keys=True)).load()

    def removed(self, dropped: list[Dropped]) -> RemovedTexts:
        """The texts removed/ gets for ``dropped``, and how many of them were redacted here."""
        if self.removed_policy == "none":
            return RemovedTexts([None] * len(dropped), 0)
        texts: list[str | None] = [d.doc.text for d in dropped]
        if self.removed_policy == "raw":
            return RemovedTexts(texts, 0)
        # The pii stage's own drops (pii_density) already carry the redacted text.
        todo = [i for i, d in enumerate(dropped) if d.stage != "pii"]
        for i, text in zip(todo, self._redact([dropped[i].doc.text for i in todo])):
            texts[i] = text
        return RemovedTexts(texts, len(todo))

    def quarantine(self, records: list[QuarantineRecord]) -> list[QuarantineRecord]:
        if self.quarantine_policy == "raw":
            return records
        if self.quarantine_policy == "none":
            return [dataclasses.replace(r, raw_preview="") for r in records]
        redacted = self._redact([t for r in records for t in (r.raw_preview, r.detail)])
        return [dataclasses.replace(r, raw_preview=redacted[2 * i], detail=redacted[2 * i + 1])
                for i, r in enumerate(records)]


@functools.lru_cache(maxsize=2)
def _redactor(params_json: str) -> Any:
    """The PII stage that redacts text beside the shards, built once per process (Presidio loads once)."""
    return build_stage("pii", json.loads(params_json))
