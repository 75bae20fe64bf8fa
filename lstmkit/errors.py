"""The one exception type lstmkit raises for a user's mistake or a bad file."""

from __future__ import annotations


class LstmkitError(Exception):
    """A problem with the user's input: a file, an option or an argument.

    The message names what arrived, what was expected and how to fix it. The CLI prints
    it as one line and exits non-zero; library callers can catch it.
    """
