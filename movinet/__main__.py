"""`python -m movinet ...` (also what `torchrun -m movinet train ...` runs)."""

import sys

from movinet.cli import main

if __name__ == "__main__":
    sys.exit(main())
