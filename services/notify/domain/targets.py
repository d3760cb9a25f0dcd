"""Where a webhook may be sent: the URL rules, and the SSRF rule on the addresses it resolves to.

A webhook target is a URL an administrator of a tenant types in, and the service POSTs to it from
inside the platform's network. Unchecked, that lets a tenant make the service call its neighbours:
Redis, the Kafka brokers, a cloud's metadata endpoint (169.254.169.254). So a target on a loopback,
private, link-local, shared (CGNAT), multicast, reserved or unspecified address is refused, unless
the operator allows private targets (a development machine, a target inside a private network).

The rule is applied twice: to an IP literal when the subscription is saved, and to every address a
host name resolves to just before each delivery, so a name that resolves to a public address when
saved and to a private one later (DNS rebinding) is still refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

from helpline.domain import DomainError

MAX_URL_CHARS = 2_048
SCHEMES = frozenset({"http", "https"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Shared address space (RFC 6598): carrier-grade NAT, often a cloud's internal range. The ipaddress
# module counts it neither private nor global, so it is named here.
_SHARED = ipaddress.ip_network("100.64.0.0/10")


class TargetError(DomainError):
    """A webhook target that may not be used: a malformed URL or a refused address."""


def parse_url(url: str) -> SplitResult:
    """The URL split in parts, if it may be a target: http or https, a host, no user name or
    password (a secret in a URL ends up in logs; the signature authenticates the sender), no
    fragment, at most MAX_URL_CHARS characters of printable ASCII. TargetError when not."""
    if len(url) > MAX_URL_CHARS:
        raise TargetError("url_too_long", f"the URL is {len(url):,} characters; at most {MAX_URL_CHARS:,}")
    if not url.isascii() or not url.isprintable() or " " in url:
        raise TargetError(
            "invalid_url", "the URL must be printable ASCII without spaces (IDNA-encode the host)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetError("invalid_url", f"the URL does not parse: {exc}") from exc
    if parts.scheme not in SCHEMES:
        raise TargetError(
            "invalid_url_scheme", f"the URL's scheme must be http or https, not {parts.scheme!r}"
        )
    if not parts.hostname:
        raise TargetError("invalid_url", "the URL has no host")
    if parts.username is not None or parts.password is not None:
        raise TargetError("url_with_credentials", "the URL may not carry a user name or password")
    if parts.fragment:
        raise TargetError("invalid_url", "the URL may not carry a fragment (#...)")
    if port == 0:
        raise TargetError("invalid_url", "the URL's port may not be 0")
    return parts


def literal_address(host: str) -> IPAddress | None:
    """The host as an IP address when it is one (an IPv6 one without its brackets), else None."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def refusal(address: IPAddress) -> str | None:
    """Why a delivery may not go to `address`, or None when it may (a public unicast address)."""
    if isinstance(address, ipaddress.IPv6Address):
        # An IPv4 address written as IPv6 (::ffff:10.0.0.1, or NAT64 / 6to4 forms) reaches the IPv4 host.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return refusal(embedded)
    kinds = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("shared (CGNAT)", isinstance(address, ipaddress.IPv4Address) and address in _SHARED),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    )
    for kind, applies in kinds:
        if applies:
            return f"{address} is a {kind} address"
    return None


def check_url(url: str, *, allow_private: bool) -> SplitResult:
    """A URL a subscription may name: well formed, and, when its host is an IP literal, one
    deliveries may go to (unless `allow_private`). A host name is checked at each delivery."""
    parts = parse_url(url)
    address = literal_address(parts.hostname or "")
    if address is not None and not allow_private:
        why = refusal(address)
        if why is not None:
            raise TargetError(
                "private_target",
                f"webhook targets on private networks are refused: {why} "
                "(an operator may allow them with HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS)",
            )
    return parts


def check_resolved(host: str, addresses: Iterable[IPAddress], *, allow_private: bool) -> IPAddress:
    """The address to connect to, of those `host` resolved to: the first, once every one of them
    may be used (a name with one private address among public ones could be steered to it)."""
    found = list(addresses)
    if not found:
        raise TargetError("unresolved_target", f"{host} resolves to no address")
    if not allow_private:
        for address in found:
            why = refusal(address)
            if why is not None:
                raise TargetError("private_target", f"{host} resolves to a refused address: {why}")
    return found[0]
