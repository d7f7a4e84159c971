"""``python -m lessonlib.bench``: see :mod:`lessonlib.bench.cli`."""

import sys

from .cli import main

sys.exit(main())
