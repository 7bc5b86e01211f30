"""Loading model files without trusting them: the checksum is verified before anything is loaded.

fastText's ``.bin`` is a native format its loader parses blindly, so a swapped or truncated file is
caught here by its sha256 (given in the config, or in the model's JSON card) rather than by a crash
or a silently different model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from curation.errors import CurationError
from curation.io.files import sha256_file


def verified(path: Path, sha256: str, what: str = "model") -> Path:
    """``path``, once its sha256 is the expected one.

    Raises:
        CurationError: the file is missing or its content is not the expected one.
    """
    if not path.is_file():
        raise CurationError(f"{what} not found: {path}")
    digest = sha256_file(path)
    if digest != sha256:
        raise CurationError(f"{what} {path} has sha256 {digest[:16]}..., expected {sha256[:16]}...: "
                            "refusing to load it")
    return path


def load_fasttext(path: Path, sha256: str, what: str = "fastText model") -> Any:
    """A fastText model, after :func:`verified`."""
    import fasttext

    verified(path, sha256, what)
    fasttext.FastText.eprint = lambda *args, **kwargs: None  # silence its load-time notice on stderr
    return fasttext.load_model(str(path))
