"""``python -m ofa_hw.cli``: the ``ofa-hw`` command."""

import sys

from . import main

sys.exit(main())
