import sys

from catalog_search.cli import main

sys.exit(main())
