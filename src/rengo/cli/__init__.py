"""The ``rengo`` command line (typer). Entry point: :data:`rengo.cli.main.app`."""
