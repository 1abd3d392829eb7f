"""Rewrite docs/configuration.md's generated configuration tables (between the markers) from the field declarations.

    .venv/bin/python tools/readme_tables.py          # rewrite in place
    .venv/bin/python tools/readme_tables.py --check  # exit 1 if the tables are stale
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from genpo_rsl.config import configuration_tables  # noqa: E402

START, END = "<!-- generated: genpo_rsl.config.configuration_tables() -->\n", "<!-- end generated -->\n"


def main() -> int:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "configuration.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    new = head + START + configuration_tables() + "\n" + END + tail
    if "--check" in sys.argv[1:]:
        return 0 if new == text else 1
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
