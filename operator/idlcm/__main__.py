"""`python -m idlcm`: the same as the `idlcm` command."""

import sys

from idlcm.cli import main

sys.exit(main())
