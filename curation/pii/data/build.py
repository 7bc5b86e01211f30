"""Rebuild the name lexicons in this folder from Faker's person providers (MIT licence).

    .venv/bin/python -m curation.pii.data.build      # needs faker (the test extra)

Every Latin-script first and last name of every Faker locale, one per line, sorted. They are the
person detector's trigger (curation/pii/names.py): a Title-case run whose first word is a known
first name is a candidate. Faker is not a run-time dependency; the files are committed.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

HERE = Path(__file__).parent
# One name: letters only, an upper-case first letter, parts joined by "-" or "'" (Jean-Pierre, O'Neil).
NAME = re.compile(r"[^\W\d_][^\W\d_]*(?:['-][^\W\d_]+)*")
# Latin script: a letter below U+0250 (Latin-1, Latin Extended-A/B), as the detector's regex reads them.
LATIN = re.compile(r"[A-Za-z\u00c0-\u024f'-]+")


def names(attrs: tuple[str, ...], exclude: tuple[str, ...] = ()) -> list[str]:
    """Every Latin-script value of ``attrs`` in Faker's person providers but the ``exclude`` locales."""
    import faker.providers.person as person

    found: set[str] = set()
    for module in pkgutil.iter_modules(person.__path__):
        if module.name in exclude:
            continue
        provider = importlib.import_module(f"{person.__name__}.{module.name}").Provider
        for attr in attrs:
            value = provider.__dict__.get(attr)
            if isinstance(value, (list, tuple, set, dict)):
                found.update(value)
    return sorted(n for n in found if NAME.fullmatch(n) and LATIN.fullmatch(n) and n[0].isupper() and len(n) > 1)


def main() -> None:
    import faker

    first = names(("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"))
    last = names(("last_names", "last_names_male", "last_names_female"))
    header = f"# Faker {faker.VERSION} person providers, all locales (MIT licence); python -m curation.pii.data.build\n"
    (HERE / "first_names.txt").write_text(header + "\n".join(first) + "\n", encoding="utf-8")
    (HERE / "last_names.txt").write_text(header + "\n".join(last) + "\n", encoding="utf-8")
    print(f"{len(first)} first names, {len(last)} last names")


if __name__ == "__main__":
    main()
