"""`make bench`: run every benchmark (or those named) and write their sections into the README.

Each section lands between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->` in README.md, so the
figures in the README are always the ones the last run measured on this machine. `--smoke` runs
each one at tiny sizes for seconds (what `make test` does); its figures mean nothing, so it writes
only to a README named with `--readme`, never to the real one.
"""

import argparse
import importlib
import os
import re
import sys
from pathlib import Path

from bench.scale import SMOKE_ENV

BENCHMARKS = (
    "auth_login",
    "gateway_authorize",
    "storage_presign",
    "scheduler_beat",
    "live_events",
    "run_history",
)
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
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, seconds per benchmark")
    parser.add_argument("--readme", type=Path, default=README, help="the file to write into")
    args = parser.parse_args(argv)
    if args.smoke and args.readme == README and not args.no_readme:
        parser.error("--smoke measures nothing worth keeping: give --readme or --no-readme")
    if args.smoke:
        # Set before any benchmark module is imported: each reads its sizes at import.
        os.environ[SMOKE_ENV] = "1"
    names = args.names or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        section: str = module.run()
        sys.stdout.write(section.rstrip() + "\n\n")
        if not args.no_readme:
            args.readme.write_text(write_section(args.readme.read_text(), name, section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
