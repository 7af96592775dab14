"""A local SMTP server for development: every message it receives is written to a folder and named on stdout.

``services/stack.py`` (the run command) starts it when ``NCC_SMTP_URL`` is not set, on ``NCC_MAIL_SINK_PORT``
(8025), writing to ``<NCC_DATA_DIR>/mail``: open the ``.eml`` files with any mail program. It never relays.
"""
from __future__ import annotations

import argparse
import itertools
import os
import signal
import sys
import threading
import time
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller


class FolderHandler:
    """aiosmtpd handler: each message to ``<folder>/<time>-<n>.eml`` (written whole, then renamed into place)."""

    def __init__(self, folder: Path, echo=print):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.echo = echo
        self._n = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{next(self._n):06d}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(self.folder / name)
        msg = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        self.echo(f"mail to {', '.join(envelope.rcpt_tos)}: {msg['Subject']} ({self.folder / name})", flush=True)
        return "250 OK"


def main(argv=None) -> int:
    """Serve until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m services.mailsink", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--dir", default="var/mail", type=Path, help="where to write the messages")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    controller = Controller(FolderHandler(args.dir), hostname=args.host, port=args.port)
    controller.start()
    print(f"development mail sink on smtp://{args.host}:{args.port}, messages in {args.dir}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    controller.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
