"""``python -m forecasting.cli``: the ``forecasting`` command."""

import sys

from forecasting.cli.main import main

sys.exit(main())
