"""``python -m growthos_segments.devstack``: see :mod:`growthos_segments.devstack.stack`.

Once :func:`~growthos_segments.devstack.stack.main` has stopped everything, the process ends
with ``os._exit`` after flushing its output: the in-process moto server leaves
millions of small objects (every item and stream record of its tables), and
the interpreter's teardown would spend seconds collecting them after the stack
is already down (over 20 s for the default demo on a busy two-core machine),
so a Ctrl-C would not return the prompt promptly.
"""

import logging
import os
import sys

print("starting the local stack ...", flush=True)  # the imports below take seconds on a busy machine
from growthos_segments.devstack.stack import main  # noqa: E402

code = main()
logging.shutdown()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
