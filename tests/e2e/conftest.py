"""e2e tests import the deploy/ helpers (the local standalone cluster) as plain modules."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "deploy"))
