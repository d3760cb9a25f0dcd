"""The servers' TLS files are checked when the process starts: both or neither, readable, and a
certificate with its own key; each refusal names the setting at fault."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from helpline.settings import load_settings
from helpline.tls import TlsFilesError, load_server_tls
from tests.tls_certs import make_certificates


def test_no_certificate_is_plaintext() -> None:
    assert load_server_tls("", "") is None


def test_a_certificate_and_its_key_serve_tls(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    tls = load_server_tls(str(certificates.cert_file), str(certificates.key_file))
    assert tls is not None
    assert tls.cert_chain == certificates.cert_file.read_bytes()
    assert tls.uvicorn_options() == {
        "ssl_certfile": str(certificates.cert_file),
        "ssl_keyfile": str(certificates.key_file),
    }


@pytest.mark.parametrize("given", ["tls_cert_file", "tls_key_file"])
def test_one_file_without_the_other_is_refused(given: str) -> None:
    with pytest.raises(ValidationError, match="HELPLINE_TLS_CERT_FILE and HELPLINE_TLS_KEY_FILE go together"):
        load_settings(**{given: "/etc/helpline/tls/file.pem"})


def test_an_unreadable_file_is_named(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    with pytest.raises(TlsFilesError, match=r"HELPLINE_TLS_KEY_FILE .*missing\.pem cannot be read"):
        load_server_tls(str(certificates.cert_file), str(tmp_path / "missing.pem"))


def test_a_key_of_another_certificate_is_refused(tmp_path: Path) -> None:
    mine = make_certificates(tmp_path / "mine")
    other = make_certificates(tmp_path / "other")
    with pytest.raises(TlsFilesError, match="not a PEM certificate chain and its private key"):
        load_server_tls(str(mine.cert_file), str(other.key_file))


def test_a_client_ca_asks_every_client_for_a_certificate(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    tls = load_server_tls(str(certificates.cert_file), str(certificates.key_file), str(certificates.ca_file))
    assert tls is not None
    assert tls.client_ca == certificates.ca_pem
    assert tls.uvicorn_options()["ssl_ca_certs"] == str(certificates.ca_file)
    assert tls.uvicorn_options()["ssl_cert_reqs"] == ssl.CERT_REQUIRED


def test_a_client_ca_without_tls_is_refused() -> None:
    with pytest.raises(ValidationError, match="HELPLINE_TLS_CLIENT_CA_FILE needs TLS"):
        load_settings(tls_client_ca_file="/etc/helpline/tls/clients.pem")


def test_a_client_ca_that_is_no_certificate_is_named(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    with pytest.raises(TlsFilesError, match=r"HELPLINE_TLS_CLIENT_CA_FILE .* holds no PEM certificate"):
        load_server_tls(str(certificates.cert_file), str(certificates.key_file), str(certificates.key_file))
