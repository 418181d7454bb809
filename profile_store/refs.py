"""Parsing a customer reference as written in a URL: ``cus_…``, ``+1555…``, ``email:a@b.c``."""

from __future__ import annotations

from pydantic import ValidationError

from profile_store.models import IdentityKind
from profile_store.schemas import CustomerRef

_KINDS = {kind.value for kind in IdentityKind} | {"customer_id"}


def parse_customer_ref(ref: str, *, default_region: str) -> CustomerRef:
    """``kind:value`` for any identity kind, or a bare customer id, E.164 phone or email.

    Raises ValueError with a message fit for a 422.
    """
    text = ref.strip()
    kind, sep, value = text.partition(":")
    if sep and kind in _KINDS:
        fields = {kind: value}
    elif text.startswith("cus_"):
        fields = {"customer_id": text}
    elif text.startswith("+"):
        fields = {"phone": text}
    elif "@" in text:
        fields = {"email": text}
    else:
        raise ValueError(
            f"cannot tell what {ref!r} is: use a customer id (cus_…), an E.164 phone, an email, "
            f"or kind:value with kind one of {', '.join(sorted(_KINDS))}"
        )
    try:
        return CustomerRef.model_validate(fields, context={"default_region": default_region})
    except ValidationError as exc:
        raise ValueError("; ".join(err["msg"] for err in exc.errors(include_url=False))) from exc
