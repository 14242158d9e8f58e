"""``python -m infra.local``: see :mod:`infra.local.stack`."""

import sys

from infra.local.stack import main

sys.exit(main())
