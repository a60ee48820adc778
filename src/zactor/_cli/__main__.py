"""``python -m zactor._cli`` runs the ``zactor`` command."""

import sys

from .main import main

sys.exit(main())
