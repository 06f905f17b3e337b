"""The ``rengo`` command line (typer). Entry point: :data:`rengo.cli.main.app`."""

from rengo.core.deprecation import alias_moved_modules

# Deprecated module paths (the demo moved to rengo.showcase); removed in rengo 0.3.
alias_moved_modules(
    {
        "rengo.cli.demo": "rengo.showcase.demo",
        "rengo.cli.demo_contrib": "rengo.showcase.demo_contribution",
    }
)
