import sys

from jaxnas.cli import main

sys.exit(main())
