"""Stages by name: versioned names, the unversioned aliases, stages of your own, lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from curation.errors import CurationError
from curation.registry import ALIASES, BUILTIN, build_stage, builtin_names, resolve_stage
from helpers import ROOT


def test_every_builtin_is_versioned_and_its_short_name_is_the_current_version():
    assert all(name.rsplit("_v", 1)[-1].isdigit() for name in BUILTIN)
    for short in builtin_names():
        assert resolve_stage(short) is resolve_stage(ALIASES[short])
        assert resolve_stage(short).name == short


def test_a_stage_of_your_own_needs_no_registry_line():
    stage = build_stage("curation.quality.length:LengthFilter", {"min_words": 3})
    assert stage.min_words == 3
    with pytest.raises(CurationError, match="not a curation.Stage subclass"):
        resolve_stage("curation.config:PipelineConfig")


def test_resolving_a_name_imports_only_that_stage():
    code = ("import sys; from curation.registry import resolve_stage; resolve_stage('length'); "
            "print(any(m.startswith(('curation.pii', 'curation.dedup', 'presidio')) for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "False"
