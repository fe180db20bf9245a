"""`python -m vj.cli`."""

import sys

from vj.cli.main import main

sys.exit(main())
