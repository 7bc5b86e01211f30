"""Main-text extraction: an HTML page (a WARC document) becomes the text a reader of the page reads.

Resiliparse's ``main_content`` extraction by default (C++, about 1-5 ms a page: NeMo Curator's and
FineWeb-2's choice of fast extractor), Trafilatura as the option DataTrove and RefinedWeb-style
pipelines use (pure Python, 10-50x slower, more conservative). Either runs in a child process that
is killed and restarted when one page takes longer than ``timeout``, so a pathological page costs
seconds, never a stalled worker; that page is dropped as ``extraction_timeout``.

Documents whose ``content_type`` column says HTML are extracted; documents with no content type are
extracted when they look like HTML (a tag at the start), so JSONL of raw pages works too; others
(WET text, plain JSONL) pass through untouched and are counted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any, Literal

import pyarrow as pa

from curation.document import Document
from curation.io.formats.warc import HTML_TYPES
from curation.stage import CounterGroup, Dropped, Stage, StageResult

# Navigation Resiliparse's main-content rules keep: DocBook's page headers and footers ("Prev Up Home
# Next": PostgreSQL's and every DocBook-built manual's), breadcrumbs, ARIA navigation landmarks. On
# bench/web_extract.py's PostgreSQL pages they took the navigation left in from 100 % to 0 %, at no
# measurable cost.
SKIP_ELEMENTS = (".navheader", ".navfooter", '[class*="breadcrumb"]', '[aria-label="breadcrumb" i]',
                 '[role="navigation"]')
STARTUP_SECONDS = 60.0  # a fresh interpreter importing the extractor, on a loaded machine
_LOOKS_LIKE_HTML = re.compile(r"\A\s*(?:<\?xml[^>]*>\s*)?<(?:!doctype|html|head|body|!--|meta|div|p)\b", re.I)


class Extract(Stage):
    """Replace each HTML page's text by its main text, and record how much of the page it was.

    Args:
        method: ``resiliparse`` (default: ``extract_plain_text(main_content=True)``, block structure
            kept as line breaks, list bullets on, alt texts, links, forms and noscript off) or
            ``trafilatura`` (``trafilatura.extract`` with DataTrove's settings: precision favoured,
            no comments, no tables' markup, no images).
        timeout: Seconds one page may take before it is dropped as ``extraction_timeout``. Pages take
            milliseconds; only a pathological one comes near it, so the output does not depend on
            the machine's speed in practice.
        min_chars: Extracted text shorter than this (after stripping) drops as ``no_main_text``:
            navigation-only pages, redirects, empty shells.
        skip_elements: CSS selectors of elements Resiliparse leaves out besides its own rules (default
            ``SKIP_ELEMENTS``: DocBook navigation, breadcrumbs, ARIA navigation); add a site's own.
    """

    name = "extract"
    attributes = {"html_bytes": pa.int64(), "extracted_ratio": pa.float32()}
    counter_groups = (CounterGroup("extract/", "Extraction", "what", "count"),)

    def __init__(self, method: Literal["resiliparse", "trafilatura"] = "resiliparse", timeout: float = 10.0,
                 min_chars: int = 1, skip_elements: list[str] | None = None):
        if method not in ("resiliparse", "trafilatura"):
            raise ValueError(f"method must be 'resiliparse' or 'trafilatura', got {method!r}")
        if timeout <= 0 or min_chars < 0:
            raise ValueError(f"need timeout > 0 and min_chars >= 0, got {timeout}, {min_chars}")
        if method == "trafilatura":
            import importlib.util

            if importlib.util.find_spec("trafilatura") is None:
                raise ValueError("method 'trafilatura' needs the trafilatura package: pip install 'curation[web]'")
        self.method = method
        self.timeout = timeout
        self.min_chars = min_chars
        self.skip_elements = list(SKIP_ELEMENTS if skip_elements is None else skip_elements)
        if method == "resiliparse":
            try:
                extract_text("<p>check</p>", method, self.skip_elements)
            except Exception as exc:  # noqa: BLE001 - Resiliparse's CSSParserException and kin
                raise ValueError(f"bad skip_elements {self.skip_elements}: {exc}") from None
        self._sandbox: Sandbox | None = None

    def process(self, batch: list[Document]) -> StageResult:
        result = StageResult([], [])
        pages = [i for i, doc in enumerate(batch) if is_html(doc)]
        result.counters["extract/passed_through_not_html"] += len(batch) - len(pages)
        if self._sandbox is None:
            self._sandbox = Sandbox(self.method, self.skip_elements)
        extracted = dict(zip(pages, self._sandbox.extract([batch[i].text for i in pages], self.timeout)))
        for i, doc in enumerate(batch):
            if i not in extracted:
                result.kept.append(doc)
                continue
            status, text = extracted[i]
            html_bytes = len(doc.text.encode("utf-8", "surrogatepass"))
            result.counters["extract/html_bytes"] += html_bytes
            if status != "ok":
                result.dropped.append(Dropped(doc, self.name, f"extraction_{status}"))
                continue
            text = text.strip()
            if len(text) < max(self.min_chars, 1):
                result.dropped.append(Dropped(doc, self.name, "no_main_text"))
                continue
            text_bytes = len(text.encode("utf-8", "surrogatepass"))
            result.counters["extract/text_bytes"] += text_bytes
            result.counters["extract/pages"] += 1
            doc.text = text
            doc.attributes["html_bytes"] = html_bytes
            doc.attributes["extracted_ratio"] = round(text_bytes / max(html_bytes, 1), 4)
            result.kept.append(doc)
        return result

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_sandbox": None}  # a child process does not travel with the stage

    def __del__(self) -> None:
        if getattr(self, "_sandbox", None) is not None:
            self._sandbox.close()


def is_html(doc: Document) -> bool:
    content_type = doc.attributes.get("content_type")
    if content_type:
        return content_type.split(";")[0].strip().lower() in HTML_TYPES
    return bool(_LOOKS_LIKE_HTML.match(doc.text[:4096]))


def extract_text(html: str, method: str, skip_elements: list[str] | tuple[str, ...] = SKIP_ELEMENTS) -> str:
    """One page's main text (in this process: the sandbox's child calls it)."""
    if method == "trafilatura":
        import trafilatura

        return trafilatura.extract(html, favor_precision=True, include_comments=False, include_tables=True,
                                   include_images=False, deduplicate=False) or ""
    from resiliparse.extract.html2text import extract_plain_text

    return extract_plain_text(html, main_content=True, preserve_formatting=True, list_bullets=True,
                              alt_texts=False, links=False, form_fields=False, noscript=False, comments=False,
                              skip_elements=list(skip_elements) or None)


class Sandbox:
    """A child process that extracts pages one after another and is replaced when one takes too long.

    Pages go to the child one at a time (a pipe round trip costs ~0.1 ms, a page ~1-5 ms), so the
    limit is per page: on a timeout the child is killed, a fresh one started, and the batch goes on
    after the page that hung. The child is a fresh interpreter (``python -m curation.web.extract``),
    not a multiprocessing spawn, which would import the caller's ``__main__`` script again.
    """

    def __init__(self, method: str, skip_elements: list[str]):
        self.method = method
        self.skip_elements = skip_elements
        self._process: subprocess.Popen[bytes] | None = None
        self._to: Connection | None = None
        self._from: Connection | None = None

    def extract(self, pages: list[str], timeout: float) -> Iterator[tuple[str, str]]:
        """``(status, text)`` per page in order: status ``ok``, ``timeout`` or ``error`` (text: why)."""
        for html in pages:
            if self._process is None:
                self._start()
            self._to.send(html)  # one at a time: the clock runs for this page alone
            if not self._from.poll(timeout):
                self.close()
                yield "timeout", ""
                continue
            try:
                yield self._from.recv()
            except EOFError:  # the child died on this page (a crash in the parser)
                self.close()
                yield "error", "extractor process died"

    def _start(self) -> None:
        to_child, to_write = os.pipe()
        from_read, from_child = os.pipe()
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))  # finds what we find
        self._process = subprocess.Popen([sys.executable, "-m", "curation.web.extract", str(to_child),
                                          str(from_child), self.method, json.dumps(self.skip_elements)],
                                         pass_fds=(to_child, from_child),
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, env=env)
        os.close(to_child)
        os.close(from_child)
        self._to, self._from = Connection(to_write, readable=False), Connection(from_read, writable=False)
        # The first answer says the child imported its extractor; start-up is not a page's time.
        ready = self._from.recv() if self._from.poll(STARTUP_SECONDS) else "no answer in 60 s"
        if ready != "ready":
            self.close()
            raise RuntimeError(f"the {self.method} extractor process did not start: {ready}")

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._to.close()
            self._from.close()
        self._process = self._to = self._from = None


def _serve(pages: Connection, answers: Connection, method: str, skip_elements: list[str]) -> None:
    try:
        extract_text("<p>warm-up</p>", method, skip_elements)
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which raises it
        answers.send(f"{type(exc).__name__}: {exc}")
        return
    answers.send("ready")
    while True:
        try:
            html = pages.recv()
        except EOFError:  # the parent closed the pipe or died: nothing left to do
            return
        try:
            answers.send(("ok", extract_text(html, method, skip_elements)))
        except Exception as exc:  # noqa: BLE001 - one bad page is that page's drop reason
            answers.send(("error", f"{type(exc).__name__}: {exc}"[:200]))


if __name__ == "__main__":
    _serve(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False), sys.argv[3],
           json.loads(sys.argv[4]))
