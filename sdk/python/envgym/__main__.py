"""python3 -m envgym vendor DIR: copy this package into DIR/envgym.

A Python plugin's directory is what the host checksums and runs, so the
envgym package lives there, next to the plugin's main.py:

    PYTHONPATH=sdk/python python3 -m envgym vendor myenv/
    gym plugin install myenv/main.py --interpreter /usr/bin/python3
"""

import os
import shutil
import sys


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "vendor":
        sys.stderr.write("usage: python3 -m envgym vendor DIR\n")
        return 2
    src = os.path.dirname(os.path.abspath(__file__))
    dst = os.path.join(argv[1], "envgym")
    if os.path.abspath(dst) == src:
        return 0
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    print(f"copied envgym into {dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
