"""``python -m tentenone.dlc.conformance FILE...``"""

from __future__ import annotations

import sys
from pathlib import Path

from tentenone.dlc.conformance._runner import run_file


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m tentenone.dlc.conformance FILE...", file=sys.stderr)
        return 2
    passed = failed = 0
    for arg in argv:
        results = run_file(Path(arg))
        ok = sum(r.passed for r in results)
        bad = len(results) - ok
        passed, failed = passed + ok, failed + bad
        print(f"{'PASS' if not bad else 'FAIL'} {arg}: {ok} passed, {bad} failed")
        for result in results:
            if not result.passed:
                print(f"    {result.name}: {result.detail}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
