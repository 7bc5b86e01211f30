"""Postal addresses by pattern: a house number and a street type, then the city and postcode.

Street lines, in the forms each country writes them:

- US/UK: ``1777 Kramer Court``, ``17 Jones Light``, ``221B Baker St.``: a house number, one to
  four Title-case words, a street type of USPS Publication 28 (Appendix C1, primary names and
  standard abbreviations) or a British one (``Close``, ``Mews``), then ``Apt./Suite/Unit/Flat N``;
- German and Dutch: ``Schaafstraße 1-8``, ``Johannastraat 96``, ``Unter den Linden 5`` is not
  covered: the street type is a suffix of the name (``-straße``, ``-weg``, ``-gasse``, ``-straat``,
  ``-laan``, ``-gracht``...), the number follows;
- French: ``87, rue de Barre``, ``5 bis avenue Samson``: the number first, a lower-case type;
- Italian and Spanish: ``Viale Goffredo, 19``, ``Calle de Ana Sancho 46``, ``Paseo del Prado s/n``:
  the type first, then the name, then the number.

After a street line, on the same line after a comma or on the next line, the detector takes the
city and postcode too: ``Johnsonfurt, NE 80119`` (US), ``North Holly\\nS6 7LJ`` (UK postcodes),
``06690 Groß-Gerau`` (five digits), ``1317 YB 's-Heer`` (Dutch), ``Madrid, 28001``. A postcode and
city alone (``75002 Paris``) are not an address: documentation is full of them.

Kept on purpose: numbers before a Title-case word that is no street type (``404 Not Found``,
``3 Main Features``), a street name without a number (``Franklin Street``), and organisation
addresses in licence boilerplate (``Free Software Foundation, Inc., 51 Franklin Street``):
``public_attribution`` keeps an address that follows ``Inc.``/``Foundation``/``Ltd`` on its line.
"""

from __future__ import annotations

import re

from curation.pii.lines import LineRuns, Runs, line_runs, scan
from curation.pii.vocab import DE_NL_ENDINGS, FR_TYPES, IT_ES_TYPES, UK_TYPES, USPS_SUFFIXES

_CAP = r"[A-Z\u00c0-\u00de][\w'\u2019.-]*"
_NUMBER_REST = r"[A-Za-z]?(?:[-/]\d{1,5}[A-Za-z]?)?"  # a house number after its first digits
_NUMBER = rf"\d{{1,5}}{_NUMBER_REST}"
_NAME = r"(?:[A-Z]')?[A-Z\u00c0-\u00de][a-z\u00df-\u00ff][\w'\u2019.-]*"  # Title case (O'Connor), not PCI
# "Flat 3, " / "Apartment 2 " before a US/UK street line: taken when it is there.
UNIT_BEFORE = re.compile(r"(?:Flat|Apartment|Studio|Unit) \w{1,5},? $")
# Each street form is its own regex, starting with a digit or a capitalised word, so that the regex
# engine skips text quickly (one alternation of all four scans about three times slower).
# Not inside a number or a version, nor the end of a year range: a look-behind after the first digit,
# which keeps the regex engine's skip to the next digit (one before it would lose it: 1.6x slower).
# Being in the regex, not checked on its matches, a rejected match can no longer hide one after it.
_FIRST_DIGIT = r"\d(?<![^\W_]\d|[-/.,:]\d)"
US_UK = re.compile(rf"{_FIRST_DIGIT}\d{{0,4}}{_NUMBER_REST} (?:{_NAME} ){{1,4}}"
                   rf"(?:{'|'.join(sorted(USPS_SUFFIXES + UK_TYPES, key=len, reverse=True))})\b\.?")
# A US/UK street line without a city and postcode after it: only with a common street type and a
# number that is not a year ("2016 Iain Lane" on a copyright line, "14 Data Ports").
CORE_TYPES = frozenset("Street St Avenue Ave Road Rd Boulevard Blvd Lane Ln Drive Dr Court Ct Place Pl Way Parkway "
                       "Pkwy Highway Hwy Terrace Ter Square Sq Close Crescent Cres Gardens Mews Row".split())
# A lower-case letter (or "str.") before a space and a number; that the word ends in a street type and
# starts with a capital is checked in Python (one alternation of the types scans 3x slower). The match
# starts at the space, the letter is a look-behind: the engine skips to spaces, not to every letter.
DE_NL = re.compile(rf" (?<=[a-z\u00df.] ){_NUMBER}\b")
# The same look-behind: not after a letter or digit.
FR = re.compile(r"\d(?<![^\W_]\d)\d{0,3}(?: ?(?:bis|ter|[A-D]))?,? "
                rf"(?:{'|'.join(map(re.escape, FR_TYPES))}) (?:de la |de l'|des |du |de |d'|l')?{_CAP}"
                rf"(?: (?:de |la |le )?{_CAP}){{0,3}}")
IT_ES = re.compile(rf"(?:{'|'.join(re.escape(t) for t in IT_ES_TYPES)}) (?:(?:de|del|de la|de los|de las|di|della|"
                   rf"dei) )?{_CAP}(?: (?:de |del |di |la )?{_CAP}){{0,3}},? (?:{_NUMBER}|s/n)\b")
SECONDARY = re.compile(r"(?:,? (?:Apt\.?|Apartment|Suite|Ste\.?|Unit|Flat|Floor|Fl\.?|Room|Rm\.?|#|Piso|Puerta|"
                       r"Appartamento|Piano|Interno|Scala|Esc\.?) ?[\w-]{1,6}\.?)+")
_CITY = rf"(?:'[st][ -])?{_CAP}(?:[ -](?:{_CAP}|de|del|di|sur|am|an|der|la|le|en|upon|on|im|bei|aan|den))*" \
        r"(?: \([A-Z]{2}\))?"
UK_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}"
_TAIL_PART = (rf"(?:\d{{5}}(?:-\d{{4}})?,? {_CITY}"  # 06690 Groß-Gerau, 56011, Gabella (PI)
              rf"|\d{{4}} ?[A-Z]{{2}}(?:,? {_CITY})?"  # 1317 YB 's-Heer (NL)
              rf"|{UK_POSTCODE}\b"  # S6 7LJ
              rf"|{_CITY},? (?:[A-Z]{{2}} )?\d{{5}}(?:-\d{{4}})?\b"  # Johnsonfurt, NE 80119; Madrid, 28001
              rf"|{_CITY},? {UK_POSTCODE}\b"  # London SW1A 1AA
              rf"|{_CITY}(?=[ \t]*\n[ \t]*{UK_POSTCODE}\b))")  # a UK city line, its postcode on the next
TAIL = re.compile(rf"(?:,[ \t]*|[ \t]*\n[ \t]*)(?:{_TAIL_PART})")
ORGANISATION = re.compile(r"(?:\bInc\.?|\bLtd\.?|\bLLC|\bGmbH|Foundation|\bCorp\.?|University)[,.]?\s*$")
# Cheap necessary condition: a digit next to a space or comma, or opening the text (a house number
# or a postcode); r"(?:^|[\s,])\d|\d[\s,]" (re.M) in a form starting with \d, which the regex
# engine skips to (5x faster; the tests compare the two).
TRIGGER = re.compile(r"\d(?:(?<=[\s,]\d)|(?<!.\d)|(?=[\s,]))", re.S)


class AddressFinder:
    """STREET_ADDRESS spans: a street line, and the city and postcode lines that follow it."""

    entity = "STREET_ADDRESS"

    def __init__(self, public_attribution: str = "keep"):
        self.public_attribution = public_attribution

    def find(self, texts: list[str], lines: list[LineRuns] | None = None) -> list[list[tuple[str, int, int]]]:
        """Sorted ``("STREET_ADDRESS", start, end)`` spans per text; ``lines``: the texts'
        :func:`~curation.pii.lines.line_runs`, if already computed."""
        lines = line_runs(texts) if lines is None else lines
        return [self.find_one(t, runs.streets) for t, runs in zip(texts, lines)]

    def streets(self, text: str, runs: Runs | None = None) -> list[tuple[int, int, bool]]:
        """(start, end, needs_tail) of every street line, in order of start; ``runs``: the text's
        street lines (:class:`~curation.pii.lines.LineRuns`), where every street form is: its
        number (or Spanish "s/n") and its type, on the one line it stays on."""
        runs = line_runs([text])[0].streets if runs is None else runs
        found = []
        for m in scan(US_UK, text, runs):
            start = m.start()
            unit = UNIT_BEFORE.search(text, max(0, start - 20), start)
            number = m.group().split(" ", 1)[0]
            kind = m.group().rstrip(".").rsplit(" ", 1)[-1]
            plain = kind in CORE_TYPES and not re.fullmatch(r"(?:19|20)\d\d", number)
            found.append((unit.start() if unit else start, m.end(), not plain))
        for m in scan(DE_NL, text, runs):
            word_end = m.start()
            word_start = word_end
            while word_start and (text[word_start - 1].isalpha() or text[word_start - 1] in "-."):
                word_start -= 1
            word = text[word_start:word_end]
            if not word[:1].isupper() or not word.endswith(DE_NL_ENDINGS):
                continue
            ending = next(e for e in DE_NL_ENDINGS if word.endswith(e))
            if word.lower() == ending.lower() or (ending[0].isupper() and not word.endswith("-" + ending)):
                continue  # a name before the type (Beckergasse 8, Janin-Noack-Weg 55), not "Ring 04"
            found.append((word_start, m.end(), False))
        found += [(m.start(), m.end(), False) for m in scan(FR, text, runs)]
        for m in scan(IT_ES, text, runs):
            if not m.start() or not text[m.start() - 1].isalnum():
                found.append((m.start(), m.end(), False))
        return sorted(found)

    def find_one(self, text: str, runs: Runs | None = None) -> list[tuple[str, int, int]]:
        if not TRIGGER.search(text):
            return []
        spans: list[tuple[str, int, int]] = []
        for start, end, needs_tail in self.streets(text, runs):
            if spans and start < spans[-1][2]:
                continue
            secondary = SECONDARY.match(text, end)
            end = secondary.end() if secondary else end
            tails = 0
            while tails < 2 and (tail := TAIL.match(text, end)):  # city line, then a UK postcode line
                end, tails = tail.end(), tails + 1
            if needs_tail and not tails:
                continue
            before = text[max(0, text.rfind("\n", 0, max(0, text.rfind("\n", 0, start))) + 1):start]
            if self.public_attribution == "keep" and ORGANISATION.search(before):
                continue
            spans.append((self.entity, start, end))
        return spans
