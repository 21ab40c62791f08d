import sys

from spatial.cli import main

sys.exit(main())
