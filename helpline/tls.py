"""The HTTP and gRPC servers' TLS (HELPLINE_TLS_CERT_FILE, HELPLINE_TLS_KEY_FILE): the files read
and matched once when the process starts, so a missing, unreadable or mismatched file stops it with
the file's name, instead of every client's handshake failing later."""

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

    def uvicorn_options(self) -> dict[str, Any]:
        return {"ssl_certfile": self.cert_file, "ssl_keyfile": self.key_file}

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.private_key, self.cert_chain)])


def load_server_tls(cert_file: str, key_file: str) -> ServerTls | None:
    """The servers' TLS, or None (plaintext) when no certificate is named."""
    if not cert_file:
        return None
    cert_chain = _read("HELPLINE_TLS_CERT_FILE", cert_file)
    private_key = _read("HELPLINE_TLS_KEY_FILE", key_file)
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise TlsFilesError(
            f"HELPLINE_TLS_CERT_FILE {cert_file} and HELPLINE_TLS_KEY_FILE {key_file} are not a PEM "
            f"certificate chain and its private key: {exc}"
        ) from exc
    return ServerTls(cert_file, key_file, cert_chain, private_key)


def _read(setting: str, path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TlsFilesError(f"{setting} {path} cannot be read: {exc.strerror}") from exc
