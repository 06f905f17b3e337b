"""``HOST:PORT`` as an operator types it: each mistake is one line that says what to write.

``--coordinator https://coord.example.org:7443`` (a URL) was told "write an IPv6 host in
brackets", as was ``[::1]`` (an IPv6 host in brackets, without its port); ``coord
example:7443`` (a space) was dialled for ten minutes as a name that does not resolve.
"""

from __future__ import annotations

import pytest

from rengo.core.errors import ConfigError
from rengo.transport.addresses import host_port

EXAMPLE = "coordinator.example.org:7443"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("https://coord.example.org:7443", "give HOST:PORT without a scheme"),
        ("[::1]", "must be HOST:PORT with a port 1-65535"),
        ("coord example:7443", "'coord example' is not a host name or an IP address"),
        ("coord.example.org/x:7443", "is not a host name or an IP address"),
        ("::1:7443", "write an IPv6 host in brackets"),
        ("coord.example.org", "must be HOST:PORT with a port 1-65535"),
    ],
)
def test_a_mistyped_address_is_one_line_saying_what_to_write(text: str, said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        host_port(text, "--coordinator", EXAMPLE, 1)
    assert str(raised.value).startswith(f"--coordinator {text!r}")
    assert said in str(raised.value)


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("coord.example.org:7443", "coord.example.org", 7443),
        (" 10.0.0.5:7443 ", "10.0.0.5", 7443),
        ("[::1]:7443", "::1", 7443),
        ("[2001:db8::5]:7443", "2001:db8::5", 7443),
        ("[fe80::1%eth0]:7443", "fe80::1%eth0", 7443),
    ],
)
def test_an_address_as_written_gives_its_host_and_port(text: str, host: str, port: int) -> None:
    assert host_port(text, "--coordinator", EXAMPLE, 1) == (host, port)
