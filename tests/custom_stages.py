"""Custom stages named by module path in tests (``custom_stages:Shouty``): a plain module on the
tests' pythonpath, so worker processes can import it too."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from curation import Dropped, Filter, Stage, StageResult


class Shouty(Filter):
    """Drops documents in capitals; a test-only custom filter."""

    name = "shouty"

    def keep(self, doc):
        return not doc.text.isupper() or (False, "all_caps")


class Tagger(Stage):
    """Adds an attribute and drops odd ids with a custom column; a test-only custom stage."""

    name = "tagger"
    attributes = {"n_chars": pa.int64()}
    removed_columns = {"note": pa.string()}

    def process(self, batch):
        kept, dropped = [], []
        for doc in batch:
            doc.attributes["n_chars"] = len(doc.text)
            if doc.id.endswith("odd"):
                dropped.append(Dropped(doc, self.name, "odd_id", {"note": f"id {doc.id}"}))
            else:
                kept.append(doc)
        return StageResult(kept, dropped, Counter({"chars_seen": sum(len(d.text) for d in batch)}))
