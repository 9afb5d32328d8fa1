"""`python -m agent`: the same as the `mpac-agent` console script."""

import sys

from agent.entrypoints.cli import main

sys.exit(main())
