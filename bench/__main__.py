"""`make bench`: run every benchmark (or those named) and write their sections into the README.

Each section lands between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in README.md, so the
figures in the README are always the ones the last run measured on this machine.
"""

import argparse
import importlib
import re
import sys
from pathlib import Path

BENCHMARKS = ("auth_login", "gateway_authorize", "storage_presign", "scheduler_beat")
README = Path(__file__).resolve().parent.parent / "README.md"


def write_section(readme: str, name: str, body: str) -> str:
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(readme):
        return pattern.sub(lambda _: block, readme)
    return readme.rstrip() + "\n\n" + block + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("names", nargs="*", help=f"benchmarks to run: {', '.join(BENCHMARKS)}")
    parser.add_argument("--no-readme", action="store_true", help="print only")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        section: str = module.run()
        sys.stdout.write(section.rstrip() + "\n\n")
        if not args.no_readme:
            README.write_text(write_section(README.read_text(), name, section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
