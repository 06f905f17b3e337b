"""Entry point of one obfuscator worker process (see :mod:`rengo.crypto.obfuscator_processes`).

Run as ``python -m rengo.crypto.obfuscator_worker`` by :class:`ObfuscatorProcesses`; it reads
a scheme description and requests on stdin and writes obfuscators to stdout.
"""

from __future__ import annotations

import sys

from rengo.crypto.obfuscator_processes import serve

if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
