"""``python -m pullrekun``."""

import sys

from pullrekun.cli import main

sys.exit(main())
