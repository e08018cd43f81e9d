"""One module per ``groprompt`` step; see :mod:`groprompt.cli` for the interface each module implements."""
