"""``python -m llama_cpp``: see ``llama_cpp._cli``."""

import sys

from ._cli import main

sys.exit(main())
