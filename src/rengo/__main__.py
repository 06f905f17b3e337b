"""``python -m rengo``: the ``rengo`` command, for environments without its console script
(a checkout on ``PYTHONPATH``, a virtual environment not on ``PATH``)."""

from rengo.cli.main import app

if __name__ == "__main__":
    app(prog_name="rengo")
