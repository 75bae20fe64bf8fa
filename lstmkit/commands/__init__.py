"""One module per ``lstmkit`` subcommand; see :mod:`lstmkit.cli`."""
