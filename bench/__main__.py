"""Run every benchmark module (or the ones named): ``python -m bench [area ...]``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    """``python -m bench [area ...] [--option ...]``: the options go to every area named."""
    here = Path(__file__).parent
    known = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if not m.name.startswith("_"))
    named = [a for a in argv if not a.startswith("-")]
    options = argv[len(named) :] if argv[: len(named)] == named else None
    unknown = [a for a in named if a not in known]
    if options is None or unknown:
        print(f"usage: python -m bench [{' | '.join(known)} ...] [--option ...]", file=sys.stderr)
        return 2
    failed = 0
    for area in named or known:
        module = importlib.import_module(f"bench.{area}")
        print(f"== bench/{area}.py", flush=True)
        rc = module.main(options)
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
