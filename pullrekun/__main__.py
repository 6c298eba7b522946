"""``python -m pullrekun``."""

import sys

from pullrekun.entry import main

sys.exit(main())
