"""`python -m cloud`: the same as the `mpac-pgw` console script."""

import sys

from cloud.cli import main

sys.exit(main())
