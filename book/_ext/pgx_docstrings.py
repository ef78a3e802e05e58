"""Sphinx extension for the API page: docstrings of pgxlib write |x| for an absolute value or a
set size, which reStructuredText would read as a substitution reference; escape those pipes."""
import re

_PIPE = re.compile(r"(?<!\\)(?<=\S)\||\|(?=\S)")


def _escape_pipes(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        if "|" in line and not stripped.startswith(("|", "+")):
            lines[i] = _PIPE.sub(r"\\|", line)


def setup(app):
    app.connect("autodoc-process-docstring", _escape_pipes)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
