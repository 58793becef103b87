"""Create counselor accounts through chatserver's own CLI, many in one process.

Each account is made by `chatserver users add NAME --role counselor --helpline ID
--password-stdin` (chatserver.cli.main with that argv, the password on stdin), exactly what
an operator types; one process imports the server once instead of once per account.

    python -m bench.users --config DIR --data-dir DIR [--redis URL] NAME:HELPLINE ...
"""

from __future__ import annotations

import argparse
import io
import sys

from chatserver import cli


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--redis")
    parser.add_argument("accounts", nargs="+", metavar="NAME:HELPLINE")
    args = parser.parse_args()
    password = sys.stdin.readline()
    options = ["--config", args.config, "--data-dir", args.data_dir]
    if args.redis:
        options += ["--redis", args.redis]
    for account in args.accounts:
        name, _, helpline = account.partition(":")
        sys.stdin = io.StringIO(password)
        argv = ["users", "add", name, "--role", "counselor", "--helpline", helpline,
                "--display-name", name.capitalize(), "--password-stdin", *options]  # fmt: skip
        status = cli.main(argv)
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
