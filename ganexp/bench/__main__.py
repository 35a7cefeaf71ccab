"""python -m ganexp.bench {train,fid,data,nsweep} [options]"""
import importlib
import sys

COMMANDS = {"train": "ganexp.bench.train", "fid": "ganexp.bench.fid", "data": "ganexp.bench.data",
            "nsweep": "ganexp.bench.nsweep"}


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: python -m ganexp.bench {{{','.join(COMMANDS)}}} [options]; -h for a command's options")
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m ganexp.bench {{{','.join(COMMANDS)}}} [options]; -h for a command's options",
              file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[argv[0]]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
