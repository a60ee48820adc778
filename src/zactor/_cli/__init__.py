"""The ``zactor`` command line: ``demo`` and ``bench``."""
