"""The layers hold for data as for code: import-linter checks the imports (.importlinter); this checks that no
module of a lower layer reads files shipped by a higher one."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ABOVE = {"tools": ("assistant", "eval", "prompts"), "assistant": ("eval",)}


def test_no_layer_reads_the_files_of_a_layer_above_it():
    found = []
    for layer, above in ABOVE.items():
        names = "|".join(above)
        pattern = re.compile(r"""package_path\(\s*["'](""" + names + r""")["']""")
        for path in sorted((ROOT / layer).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "\n".join(found)

