"""What a shared-secret token must be, for the coordinator's parties and the dashboard alike.

A token is a password sent with every connection: anyone who tries enough of them gets in,
each try costing one connection, so a token must be long enough that trying cannot find it.
Kept free of gRPC so the dashboard can check its own token without loading the transport.
"""

from __future__ import annotations

MIN_TOKEN_CHARS = 16
"""The shortest token rengo takes (``secrets.token_urlsafe(24)`` gives 32 characters)."""
MAKE_A_TOKEN = "make one with `python -c 'import secrets; print(secrets.token_urlsafe(24))'`"
"""How to make a good token, for the errors that refuse a short one."""
