"""``python -m trio_ami``: the same as the ``trio-ami`` command."""

import sys

from ._cli import main

sys.exit(main())
