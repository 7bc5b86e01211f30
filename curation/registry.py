"""Stages by name: the registry sits above the stage interface (Dolma's ``TaggerRegistry`` pattern).

``curation.stage`` defines what a stage is and imports nothing of ours; this module names the
built-in stages as ``module:Class`` strings and imports a stage only when a run asks for it, so a
chain that does not use PII never loads Presidio. A new built-in stage is one file plus one line in
:data:`BUILTIN`; a stage of your own needs no line at all: name it ``package.module:Class``.

Names are versioned where a stage's output can change (``gopher_quality_v1``): a name never changes
meaning; when a stage's decisions change, it gets a new version and the old one stays. Unversioned
names are aliases of the current version, for configs written before versions.

Example:
    >>> build_stage("length", {"min_words": 3}).min_words
    3
    >>> resolve_stage("gopher_quality") is resolve_stage("gopher_quality_v1")
    True
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

from curation.errors import CurationError
from curation.stage import Stage

BUILTIN: dict[str, str] = {
    "extract_v1": "curation.web.extract:Extract",
    "url_filter_v1": "curation.web.urls:URLFilter",
    "length_v1": "curation.quality.length:LengthFilter",
    "heuristics_v1": "curation.quality.heuristics:Heuristics",
    "gopher_quality_v1": "curation.quality.gopher:GopherQuality",
    "gopher_repetition_v1": "curation.quality.gopher:GopherRepetition",
    "c4_v1": "curation.quality.c4:C4Filter",
    "fineweb_quality_v1": "curation.quality.fineweb:FineWebQuality",
    "language_v1": "curation.quality.language:LanguageFilter",
    "quality_classifier_v1": "curation.quality.classifier:QualityClassifier",
    "quality_threshold_v1": "curation.quality.classifier:QualityThreshold",
    "decontaminate_v1": "curation.decontam.stage:Decontaminate",
    "dedup_v1": "curation.dedup.stage:Deduplicate",
    "pii_v1": "curation.pii.redact:PIIRedactor",
}
# Unversioned names: the current version of each.
ALIASES: dict[str, str] = {name.rsplit("_v", 1)[0]: name for name in BUILTIN}


def builtin_names() -> list[str]:
    """The short names of the built-in stages, in the registry's order."""
    return list(ALIASES)


def _import(target: str, name: str) -> type[Stage]:
    module_name, _, class_name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as exc:
        raise CurationError(f"cannot import stage {name!r}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Stage)):
        raise CurationError(f"{name!r} is not a curation.Stage subclass")
    return cls


def resolve_stage(name: str) -> type[Stage]:
    """A built-in stage by name (``gopher_quality`` or ``gopher_quality_v1``), or any Stage subclass
    as ``package.module:ClassName``."""
    versioned = ALIASES.get(name, name)
    if versioned in BUILTIN:
        return _import(BUILTIN[versioned], name)
    if ":" in name:
        return _import(name, name)
    raise CurationError(f"unknown stage {name!r}; built-in stages: {', '.join(builtin_names())}")


def build_stage(name: str, params: dict[str, Any]) -> Stage:
    """An instance of the stage ``name`` with ``params``; bad parameters are one-line errors."""
    cls = resolve_stage(name)
    try:
        return cls(**params)
    except (TypeError, ValueError) as exc:
        raise CurationError(f"bad parameters for stage {name!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# `curate stages`: parameters, defaults and where they come from, read from the code itself.


def _docstring_args(doc: str) -> dict[str, str]:
    """Google-style ``Args:`` entries (``a, b: text`` lines and their continuations) by name."""
    found: dict[str, str] = {}
    lines = inspect.cleandoc(doc or "").splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() in ("Args:", "Arguments:"))
    except StopIteration:
        return found
    names: list[str] = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break  # the next section
        entry = re.match(r"^ {4}([\w, ]+):\s*(.*)$", line)
        if entry:
            names = [n.strip() for n in entry.group(1).split(",")]
            for n in names:
                found[n] = entry.group(2).strip()
        elif line.strip() and names:
            for n in names:
                found[n] += " " + line.strip()
    return found


def stage_parameters(cls: type[Stage]) -> list[tuple[str, str, str, str]]:
    """``(name, type, default, description)`` per parameter: from the stage's ``params_model``
    (a pydantic model whose field descriptions cite their sources) or its ``__init__`` and the
    ``Args:`` section of its docstring."""
    model = getattr(cls, "params_model", None)
    if model is not None:
        return [(n, _type_name(f.annotation), repr(f.get_default(call_default_factory=True)), f.description or "")
                for n, f in model.model_fields.items()]
    docs = _docstring_args(cls.__doc__ or "")
    out = []
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        default = "(required)" if p.default is p.empty else repr(p.default)
        out.append((p.name, _type_name(p.annotation), default, docs.get(p.name, "")))
    return out


def _type_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return ""
    if isinstance(annotation, str):
        return annotation
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


def describe_stages(names: list[str] | None = None) -> str:
    """What ``curate stages [NAME...]`` prints."""
    from curation.config import CORPUS_STAGES, QUALITY_PRESETS

    chosen = names or builtin_names()
    blocks = []
    for name in chosen:
        cls = resolve_stage(name)
        versioned = ALIASES.get(name, name)
        summary = inspect.cleandoc(cls.__doc__ or "").split("\n\n")[0].replace("\n", " ")
        where = f"{cls.__module__}:{cls.__qualname__}"
        presets = [p + "".join(f" ({', '.join(f'{k}={v!r}' for k, v in s.get('params', {}).items())})"
                               for s in chain if s["name"] == name and s.get("params"))
                   for p, chain in QUALITY_PRESETS.items() if any(s["name"] == name for s in chain)]
        if name in {s["name"] for s in CORPUS_STAGES}:
            presets = ["every preset (the corpus-level part of the chain)"]
        kind = "corpus-level: fitted on the whole corpus after pass 1" if _fits(cls) else "per document"
        lines = [f"{name}" + (f" ({versioned})" if versioned != name else "") + f"  [{where}, {kind}]",
                 f"  {summary}"]
        if presets:
            lines.append(f"  in presets: {', '.join(presets)}")
        for pname, ptype, default, text in stage_parameters(cls):
            head = f"    {pname}" + (f": {ptype}" if ptype else "") + f" = {default}"
            lines.append(head + (f"\n        {text}" if text else ""))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n\nSet parameters with stage_options in a config file, e.g.\n" \
        "  stage_options: {heuristics: {min_stop_words: 3}, pii: {max_pii_density: 0.05}}\n"


def _fits(cls: type[Stage]) -> bool:
    try:
        return cls().needs_fit  # with its defaults
    except Exception:  # noqa: BLE001 - a stage with required parameters: say per document
        return False
