"""The HTTP and gRPC servers' TLS (HELPLINE_TLS_CERT_FILE, HELPLINE_TLS_KEY_FILE, and for mutual TLS
HELPLINE_TLS_CLIENT_CA_FILE): the files read and checked once when the process starts, so a missing,
unreadable or mismatched file stops it with the file's name, instead of every client's handshake
failing later."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc


class TlsFilesError(ValueError):
    """The certificate or key file cannot serve TLS."""


@dataclass(frozen=True)
class ServerTls:
    cert_file: str
    key_file: str
    cert_chain: bytes
    private_key: bytes
    # With mutual TLS: the CA a client's certificate must chain to.
    client_ca_file: str = ""
    client_ca: bytes | None = None

    def uvicorn_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"ssl_certfile": self.cert_file, "ssl_keyfile": self.key_file}
        if self.client_ca_file:
            options |= {"ssl_ca_certs": self.client_ca_file, "ssl_cert_reqs": ssl.CERT_REQUIRED}
        return options

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


def load_server_tls(cert_file: str, key_file: str, client_ca_file: str = "") -> ServerTls | None:
    """The servers' TLS, or None (plaintext) when no certificate is named."""
    if not cert_file:
        return None
    cert_chain = _read("HELPLINE_TLS_CERT_FILE", cert_file)
    private_key = _read("HELPLINE_TLS_KEY_FILE", key_file)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise TlsFilesError(
            f"HELPLINE_TLS_CERT_FILE {cert_file} and HELPLINE_TLS_KEY_FILE {key_file} are not a PEM "
            f"certificate chain and its private key: {exc}"
        ) from exc
    client_ca = _read("HELPLINE_TLS_CLIENT_CA_FILE", client_ca_file) if client_ca_file else None
    if client_ca_file:
        try:
            context.load_verify_locations(cafile=client_ca_file)
        except ssl.SSLError as exc:
            raise TlsFilesError(
                f"HELPLINE_TLS_CLIENT_CA_FILE {client_ca_file} holds no PEM certificate: {exc}"
            ) from exc
    return ServerTls(cert_file, key_file, cert_chain, private_key, client_ca_file, client_ca)


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TlsFilesError(f"{setting} {path} cannot be read: {exc.strerror}") from exc
