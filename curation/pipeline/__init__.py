"""The run: steps over input partitions, in a graph every runner executes (see README.md here).

- :mod:`~curation.pipeline.plan`: the checks before anything starts, the output's claim and lock,
  and :class:`RunPlan` (inputs, partitions, config, output folder).
- :mod:`~curation.pipeline.steps`: the steps, plain functions of the plan, each resumable.
- :mod:`~curation.pipeline.outcomes` and :mod:`~curation.pipeline.markers`: what a step produced,
  and how a rerun knows it can trust it.
- :mod:`~curation.pipeline.graph`: the order of the steps, written once, and the runner protocol.
- :mod:`~curation.pipeline.local`: the library's runner and :func:`run`.
- :mod:`~curation.pipeline.finalize`, :mod:`~curation.pipeline.manifest`,
  :mod:`~curation.pipeline.result`: the run's outputs and end-of-run text.
- :mod:`~curation.pipeline.chain`, :mod:`~curation.pipeline.tables`, :mod:`~curation.pipeline.privacy`:
  stages over batches, Arrow conversions, and what text may be written beside the shards.
"""

from curation.pipeline.graph import Runner, Step, build_graph, describe, execute
from curation.pipeline.local import LocalRunner, run
from curation.pipeline.manifest import config_identity
from curation.pipeline.outcomes import FileRecord, FitOutcome, PartitionOutcome, ShardsOutcome, TokenizerOutcome
from curation.pipeline.plan import (INTERMEDIATE, OUTPUT_FILES, RESULT_FILES, RunPlan, check_config, claim_output,
                                    local_output, locked, plan_run)
from curation.pipeline.result import RunResult

__all__ = ["FileRecord", "FitOutcome", "INTERMEDIATE", "LocalRunner", "OUTPUT_FILES", "PartitionOutcome",
           "RESULT_FILES", "RunPlan", "RunResult", "Runner", "ShardsOutcome", "Step", "TokenizerOutcome",
           "build_graph", "check_config", "claim_output", "config_identity", "describe", "execute",
           "local_output", "locked", "plan_run", "run"]
