"""Run benchmark modules of this package one after the other: ``python -m bench [name ...]``
(every module when none is named; ``_``-prefixed modules are helpers and tools)."""

import importlib
import pkgutil
import sys

import bench


def main() -> int:
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))
    wanted = sys.argv[1:] or names
    for name in wanted:
        print(f"== bench.{name}", flush=True)
        # each module reads its own options from sys.argv: give it none (its defaults),
        # not the list of benchmarks to run
        sys.argv = [f"bench.{name}"]
        importlib.import_module(f"bench.{name}").main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
