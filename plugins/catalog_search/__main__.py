"""`python -m catalog_search` runs the CLI."""

import sys

from catalog_search.cli import main

if __name__ == "__main__":
    sys.exit(main())
