"""Placeholder training entry point (replaced by the real template code)."""

import sys

from args import parse_args


def main(argv=None) -> int:
    args = parse_args(argv)
    print("Executing your training code in train.py::__main__", args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
