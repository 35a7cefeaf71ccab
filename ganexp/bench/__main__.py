"""python -m ganexp.bench {train,fid,data,nsweep} [options]"""
import argparse
import importlib
import sys

from ganexp.cliargs import Parser

COMMANDS = {"train": "ganexp.bench.train", "fid": "ganexp.bench.fid", "data": "ganexp.bench.data",
            "nsweep": "ganexp.bench.nsweep"}


def main(argv: list[str]) -> int:
    """Run the named bench with the rest of the arguments; a missing or unknown bench is one sentence, exit 2."""
    p = Parser(prog="python -m ganexp.bench", description="Benchmarks; python -m ganexp.bench COMMAND -h lists a "
               "command's options.")
    p.add_argument("command", choices=list(COMMANDS), help="the bench to run")
    p.add_argument("options", nargs=argparse.REMAINDER, help="its options")
    if not argv:  # argparse would also call the (optional) options required
        p.error(f"name a bench: {', '.join(COMMANDS)}")
    args = p.parse_args(argv)
    return importlib.import_module(COMMANDS[args.command]).main(args.options) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
