"""The stage interface: every stage takes a batch and says what it kept, dropped and counted.

Modelled on DataTrove's ``BaseFilter`` (one ``keep`` method for the common case, counters in
the base class) with Dolma's versioned names: a registered name never changes meaning.

Example:
    >>> class ShortDocs(Filter):
    ...     name = "short_docs"
    ...     def __init__(self, min_chars: int = 10):
    ...         self.min_chars = min_chars
    ...     def keep(self, doc):
    ...         return len(doc.text) >= self.min_chars or (False, "too_short")
    >>> result = ShortDocs()([Document("a", "tiny"), Document("b", "long enough text")])
    >>> [d.id for d in result.kept], [(d.doc.id, d.reason) for d in result.dropped]
    (['b'], [('a', 'too_short')])
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import pyarrow as pa

from curation.document import Document


MapFn = Callable[[Callable[..., Any], Iterable[Any]], Iterable[Any]]


@dataclass(slots=True)
class Dropped:
    """A document a stage removed, with the reason and any stage-specific columns."""

    doc: Document
    stage: str
    reason: str
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StageResult:
    """What a stage did to one batch."""

    kept: list[Document]
    dropped: list[Dropped]
    counters: Counter[str] = field(default_factory=Counter)


class Stage(ABC):
    """A pipeline stage: a deterministic callable over a batch of documents.

    Subclasses set ``name`` and implement :meth:`process`. They declare the attributes they add
    to kept documents (``attributes``) and the extra columns of their removed rows
    (``removed_columns``) so shard and removed-file schemas are known before the first batch.
    """

    name: ClassVar[str]
    attributes: ClassVar[dict[str, pa.DataType]] = {}
    removed_columns: ClassVar[dict[str, pa.DataType]] = {}
    # Parameters naming a file (a model): the run's identity uses the file's sha256, not its path,
    # so the same model gives the same manifest wherever it sits.
    file_params: ClassVar[tuple[str, ...]] = ()

    # Counter groups the run report shows as tables (and plots), read by the stage's own declaration
    # rather than by anyone parsing its counter names.
    counter_groups: ClassVar[tuple[CounterGroup, ...]] = ()

    @property
    def needs_fit(self) -> bool:
        """True for a corpus-level stage (:class:`CorpusStage`) that needs fitting with these parameters."""
        return False

    def run_notes(self, counters: Mapping[str, int]) -> list[str]:
        """Lines the run's summary and report should show, given the stage's counters over the run
        (say, that its data was missing and it checked nothing)."""
        return []

    def __call__(self, batch: list[Document]) -> StageResult:
        result = self.process(batch)
        result.counters["docs_in"] += len(batch)
        result.counters["docs_out"] += len(result.kept)
        for dropped in result.dropped:
            result.counters[f"dropped/{dropped.reason}"] += 1
        return result

    @abstractmethod
    def process(self, batch: list[Document]) -> StageResult:
        """Return the kept documents, the dropped ones with reasons, and stage counters."""


class CorpusStage(Stage):
    """A stage that must see the whole corpus before deciding on any document (dedup, a top fraction).

    The runner calls :meth:`fit` on every staged file after pass 1 (the per-document stages before
    it), then runs the stage in pass 2, in any process or machine, on a fresh instance that
    loads what the fit wrote (:meth:`load`). Corpus-level stages stand together in a chain: after the
    per-document filters and before the stages that run after them in pass 2 (PII redaction), so
    each is fitted on exactly the documents it will see (``check_config`` enforces it).
    """

    @property
    def needs_fit(self) -> bool:
        return True

    def prepare(self) -> None:
        """Load now, in this process, what :meth:`fit` needs that does not depend on the corpus
        (evaluation sets, their index, compiled code), for a fit here later: the runner calls it in
        a thread while pass 1 runs. Nothing by default."""

    @abstractmethod
    def fit(self, staging: list[Path], workdir: Path, map_fn: MapFn = map) -> dict[str, int] | None:
        """See the whole curated corpus before :meth:`process` is called; return corpus counters.

        Everything :meth:`process` needs must be written to ``workdir``: pass 2 may run in other
        processes (or machines), which call :meth:`load` on a fresh instance instead.

        Args:
            staging: the staged Parquet files (``id``, ``text``, ``source`` and stage attributes), in
                input order.
            workdir: a folder of the stage's own for intermediate files and the fitted state; the
                files at its top level are the state (checked by sha256 before a rerun trusts them).
            map_fn: runs a phase's independent tasks (``map``: here, in order; a runner passes its own).
        """

    @abstractmethod
    def load(self, workdir: Path) -> None:
        """Restore what :meth:`fit` wrote to ``workdir`` (called before pass 2 in every process)."""


@dataclass(frozen=True)
class CounterGroup:
    """Counters a stage keys ``PREFIX + label`` (``pii/entity/EMAIL_ADDRESS``), shown as one table.

    Attributes:
        prefix: the counter names' common start.
        title: the table's heading; ``label`` and ``value`` its column names.
        plot: also draw a bar chart of it.
        numeric: labels start with a number (``2``, ``11-100``) and sort by it.
    """

    prefix: str
    title: str
    label: str
    value: str
    plot: bool = False
    numeric: bool = False

    @property
    def slug(self) -> str:
        """A file-name form of the group (its plot's name)."""
        return self.prefix.strip("/").replace("/", "-")

    def select(self, counters: Mapping[str, int]) -> dict[str, int]:
        found = {k[len(self.prefix):]: v for k, v in counters.items() if k.startswith(self.prefix)}
        order = (lambda k: (int(k.split("-")[0]), k)) if self.numeric else (lambda k: (0, k))
        return {k: found[k] for k in sorted(found, key=order)}


class Filter(Stage):
    """A stage that keeps or drops each document on its own: implement :meth:`keep`."""

    def process(self, batch: list[Document]) -> StageResult:
        kept: list[Document] = []
        dropped: list[Dropped] = []
        for doc in batch:
            verdict = self.keep(doc)
            ok, reason = (verdict, self.name) if isinstance(verdict, bool) else verdict
            if ok:
                kept.append(doc)
            else:
                dropped.append(Dropped(doc, self.name, reason))
        return StageResult(kept, dropped)

    @abstractmethod
    def keep(self, doc: Document) -> bool | tuple[bool, str]:
        """True to keep; False or ``(False, reason)`` to drop."""
