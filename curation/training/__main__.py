"""``python -m curation.training RUN_DIR --output DIR ...`` (also under ``torchrun ... -m curation.training``)."""

import sys

from curation.training.cli import main

sys.exit(main())
