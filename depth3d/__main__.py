"""``python -m depth3d`` runs the command-line interface."""

import sys

from depth3d.cli import main

if __name__ == "__main__":
    sys.exit(main())
