"""Where the tests find the repository's files (the sample config, the roles, the templates)."""

from pathlib import Path

#: The top of the checkout the tests run from.
REPO = Path(__file__).resolve().parent.parent
