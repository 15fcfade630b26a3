"""`python -m shrimpgrad COMMAND`: the command-line tools. Today one command:

    python -m shrimpgrad explain script.py | -c "expr"  [--stage ...] [--kernel NAME] [--html FILE]
"""

import sys

COMMANDS = {"explain": "run a script or an expression and show every stage of what it realized"}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m shrimpgrad COMMAND [...]\n\ncommands:")
        for name, what in COMMANDS.items():
            print(f"  {name:10s} {what}")
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"python -m shrimpgrad: unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    from shrimpgrad.explain.cli import main as explain_main

    return explain_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
