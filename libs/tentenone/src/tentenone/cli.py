"""The ``tentenone`` command."""

from __future__ import annotations

import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    from tentenone.service.demo import main as demo_main

    return demo_main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
