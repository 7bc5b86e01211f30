"""``python -m curation.pipeline > curation/pipeline/README.md``: the "how a run flows" page."""

from curation.pipeline.graph import render_readme

print(render_readme(), end="")
