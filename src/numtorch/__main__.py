"""``python -m numtorch ...`` runs the ``numtorch`` command."""
import sys

from numtorch.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
