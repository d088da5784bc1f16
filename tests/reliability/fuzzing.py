"""How the fuzzing tests draw their inputs: the same ones every run (so CI stays a verdict on
the code, not on the draw), or new ones with ``SERVEGATE_FUZZ_RANDOM=1`` to look further."""

from __future__ import annotations

import os

DERANDOMIZE = os.environ.get("SERVEGATE_FUZZ_RANDOM") != "1"
