"""Test helpers of this folder are plain modules beside the tests (importlib mode)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
