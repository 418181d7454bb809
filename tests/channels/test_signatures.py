"""Twilio's published signature vectors, checked through our verifier."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from channels.twilio.signature import TwilioSignatureVerifier
from tests.channels.conftest import fixture

VECTORS = fixture("webhooks", "twilio", "twilio_signature_vectors.json")["vectors"]
CASES = [
    (vector["url"], vector["params"], vector["auth_token"], vector["expected_signature"])
    for vector in VECTORS
    if "url" in vector
] + [
    (case["url"], VECTORS[1]["params"], VECTORS[1]["auth_token"], case["expected_signature"])
    for vector in VECTORS
    for case in vector.get("cases", [])
]


@pytest.mark.parametrize(("url", "params", "token", "signature"), CASES)
def test_published_vectors_verify_and_a_changed_param_does_not(
    url: str, params: dict[str, str], token: str, signature: str
) -> None:
    parts = urlsplit(url)
    verifier = TwilioSignatureVerifier(token, f"{parts.scheme}://{parts.netloc}")
    assert verifier.verify(parts.path, parts.query, params, signature)
    assert not verifier.verify(parts.path, parts.query, params | {"Digits": "0000"}, signature)
    assert not verifier.verify(parts.path, "", params, signature)  # the query string is signed
