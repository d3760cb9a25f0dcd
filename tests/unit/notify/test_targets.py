"""Webhook targets: the URL rules, and the SSRF rule on addresses, literal and resolved."""

from __future__ import annotations

import ipaddress

import pytest

from services.notify.domain.targets import MAX_URL_CHARS, TargetError, check_resolved, check_url, refusal

REFUSED = [
    "127.0.0.1",
    "127.8.9.10",
    "0.0.0.0",  # noqa: S104 (an address refused, not bound)
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # a cloud's metadata endpoint
    "100.64.0.1",  # shared address space (CGNAT)
    "100.127.255.254",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "ff02::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "2002:a00:1::",  # 6to4 of 10.0.0.1
]
ALLOWED = ["93.184.216.34", "8.8.8.8", "100.128.0.1", "2606:4700:4700::1111"]


@pytest.mark.parametrize("address", REFUSED)
def test_private_and_special_addresses_are_refused(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080/hook", "https://[::1]/x", "http://169.254.169.254/latest", "http://10.0.0.7/"],
)
def test_a_private_literal_is_refused_when_saved(url: str) -> None:
    with pytest.raises(TargetError) as refused:
        check_url(url, allow_private=False)
    assert refused.value.rule == "private_target"
    assert "HELPLINE_WEBHOOK_ALLOW_PRIVATE_TARGETS" in refused.value.message
    check_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.com/", "invalid_url_scheme"),
        ("file:///etc/passwd", "invalid_url_scheme"),
        ("https://user:pw@example.com/", "url_with_credentials"),
        ("https://example.com/#frag", "invalid_url"),
        ("https:///nohost", "invalid_url"),
        ("https://exa mple.com/", "invalid_url"),
        ("https://exämple.com/", "invalid_url"),
        ("https://example.com:99999/", "invalid_url"),
        ("https://example.com/" + "a" * MAX_URL_CHARS, "url_too_long"),
    ],
)
def test_malformed_urls_are_refused(url: str, rule: str) -> None:
    with pytest.raises(TargetError) as refused:
        check_url(url, allow_private=True)
    assert refused.value.rule == rule


def test_a_host_name_is_left_to_delivery_time() -> None:
    check_url("https://hooks.example.com/in?token=abc", allow_private=False)


def test_a_name_resolving_to_any_private_address_is_refused() -> None:
    public, private = ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")
    assert check_resolved("h.example", [public], allow_private=False) == public
    with pytest.raises(TargetError, match=r"10\.0\.0\.1"):
        check_resolved("h.example", [public, private], allow_private=False)
    assert check_resolved("h.example", [private], allow_private=True) == private
    with pytest.raises(TargetError):
        check_resolved("h.example", [], allow_private=True)
