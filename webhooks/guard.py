"""Server-side request forgery guard for webhook URLs.

A webhook URL is a place the server will send requests to on a lead's word, so it must not
reach inside the network the server stands in: only ``http`` and ``https``, and no address that
is not globally routable (private ranges, loopback, link-local, shared, reserved, multicast, the
cloud metadata address 169.254.169.254 among them), unless ``WEBHOOKS_ALLOW_PRIVATE`` is on
(tests and local development, where the receiver is on 127.0.0.1).

The URL is checked when it is registered and again at every delivery: the host name is resolved
then, every address it resolves to is checked, and the connection goes to a checked address
(never a second lookup the name's owner could answer differently: DNS rebinding). Redirects are
never followed.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from core.errors import ApplicationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeURL(ApplicationError):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (a name, or an address without brackets)
    port: int
    path: str  # path and query, at least "/"
    addresses: tuple[str, ...]  # resolved and checked, in the resolver's order

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"


def allow_private() -> bool:
    return bool(getattr(settings, "WEBHOOKS_ALLOW_PRIVATE", False))


def _refused(address: IPAddress) -> str | None:
    """Why the address may not be called, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _refused(address.ipv4_mapped)
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified or address.is_reserved or not address.is_global:
        return "not a public address"
    return None


def parse(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of an http(s) URL; UnsafeURL when it is not one."""
    if not isinstance(url, str) or not url or len(url) > 2000:
        raise UnsafeURL("The URL must be an http or https URL of at most 2000 characters.")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"The URL is not valid: {exc}.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL(f"Only http and https URLs are allowed, not {scheme or 'no scheme'!r}.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("The URL may not carry a user name or password.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("The URL has no host.")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, host, port or (443 if scheme == "https" else 80), path


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"The host {host!r} does not resolve ({exc}).") from None
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise UnsafeURL(f"The host {host!r} does not resolve.")
    return found


def check(url: str) -> Target:
    """Parse and resolve the URL; UnsafeURL (a 400 in the API) when it may not be called."""
    scheme, host, port, path = parse(url)
    addresses = resolve(host, port)
    if not allow_private():
        for address in addresses:
            reason = _refused(address)
            if reason is not None:
                shown = host if host == str(address) else f"{host} ({address})"
                raise UnsafeURL(
                    f"The URL's host {shown} is {reason}: webhooks go to public addresses only "
                    "(WEBHOOKS_ALLOW_PRIVATE allows others, for local development)."
                )
    return Target(scheme, host, port, path, tuple(str(a) for a in addresses))
