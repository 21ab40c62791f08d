"""``python -m flood_model run ...``."""

import sys

from flood_model.cli import main

sys.exit(main())
