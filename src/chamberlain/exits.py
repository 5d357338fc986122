"""How every ``chamberlain`` command ends: its exit codes and the one error style (``error: …`` on stderr).

=====  ==============================================================================================
code   meaning
=====  ==============================================================================================
0      done: the check allowed, the tests passed, the log verified
1      the answer is no: a test failed, ``verify`` found tampering, a CEL expression failed
2      the command could not do its work: bad usage, unreadable input, a policy that does not compile
=====  ==============================================================================================
"""

from __future__ import annotations

from typing import NoReturn

import typer

from chamberlain.text import block

OK = 0
FAILED = 1
USAGE = 2


def fail(message: str, code: int = USAGE) -> NoReturn:
    """Print ``error: message`` (control characters escaped) on stderr and exit with ``code``."""
    typer.echo(block(f"error: {message}"), err=True)
    raise typer.Exit(code)
