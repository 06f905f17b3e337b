"""The keys of text (categorical) columns that a job's ``[data]`` and ``[vfl]`` both take,
declared once: ``categorical``, ``categorical_auto``, ``unseen_category`` and
``max_categories`` (see :mod:`rengo.data.categorical` for what they do)."""

from __future__ import annotations

from typing import Any

from rengo.core.options import option
from rengo.data.categorical import MAX_CATEGORIES

CATEGORICAL_KEYS = ("categorical", "categorical_auto", "unseen_category", "max_categories")
"""The keys of text columns, as both sections name them."""
CSV_TABLE_KEYS = ("delimiter", "encoding", "decimal", *CATEGORICAL_KEYS)
"""The keys that say how a section's CSV tables are read (unused for a bundled table)."""


def categorical_auto_option(whose: str) -> Any:
    """``categorical_auto``: one-hot encode every text column of ``whose`` tables."""
    return option(False, f"One-hot encode every feature column of {whose} holding text.")


def unseen_category_option(which: str) -> Any:
    """``unseen_category``: what ``which`` cell outside its column's categories becomes."""
    return option(
        "zeros",
        f"{which} outside its column's categories: all zeros (counted in a warning) or an error.",
    )


def max_categories_option() -> Any:
    """``max_categories``: the guard against an ID column declared categorical."""
    return option(
        MAX_CATEGORIES,
        "Most categories a column may learn (an ID column declared by mistake).",
        ge=1,
    )
