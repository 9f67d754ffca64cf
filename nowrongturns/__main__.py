import sys

from nowrongturns.cli import main

sys.exit(main())
