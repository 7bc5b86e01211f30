"""curation: a data-curation pipeline for LLM pre-training corpora.

Raw text in; a filtered, deduplicated, redacted corpus out, in Parquet shards with exact token
counts, plus the BPE tokenizer trained on it. Every stage is a plain callable over a batch of
:class:`~curation.document.Document` records (see :mod:`curation.stage`); the runner in
:mod:`curation.pipeline` chains them. Nothing here imports Prefect: ``flows/`` orchestrates.
"""

from curation.document import Document
from curation.errors import CurationError
from curation.stage import Dropped, Filter, Stage, StageResult

__version__ = "0.1.0"
__all__ = ["CurationError", "Document", "Dropped", "Filter", "Stage", "StageResult", "__version__"]
