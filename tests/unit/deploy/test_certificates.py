"""The local CA signs a loopback certificate that a TLS client accepts for both names."""

from __future__ import annotations

import ssl
from pathlib import Path

from cryptography import x509

from deploy.engines.certificates import ensure_certificates


def test_server_certificate_names_loopback_and_is_kept(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    certificate = x509.load_pem_x509_certificates(files.server_certificate.read_bytes())[0]
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert files.server_key.stat().st_mode & 0o077 == 0
    # A client trusting the CA loads the chain; a second call keeps the same CA.
    context = ssl.create_default_context(cafile=str(files.ca_certificate))
    context.load_cert_chain(files.server_certificate, files.server_key)
    before = files.ca_certificate.read_bytes()
    assert ensure_certificates(tmp_path).ca_certificate.read_bytes() == before
