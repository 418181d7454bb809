"""Console sign-in: the admin token in an HttpOnly, SameSite=Strict cookie, and a CSRF token
derived from it for every form.

The cookie never reaches JavaScript and is not sent by other sites; the CSRF field makes a
forged form post fail even from a browser that ignores SameSite.
"""

from __future__ import annotations

import hashlib
import hmac

from fastapi import HTTPException, Request, status

from app.admin_tokens import Principal, authenticate
from app.container import Container

COOKIE = "cc_console"
SIGN_IN = "/console/sign-in"


def csrf_token(token: str) -> str:
    return hmac.new(token.encode(), b"chatcommerce-console-csrf", hashlib.sha256).hexdigest()[:32]


async def signed_in(request: Request) -> tuple[Principal, str]:
    """The signed-in user and their CSRF token; a redirect to sign-in otherwise."""
    token = request.cookies.get(COOKIE, "")
    container: Container = request.app.state.container
    who = None
    if token:
        async with container.readers() as session:
            who = await authenticate(session, token)
    if who is None:
        raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": SIGN_IN})
    return who, csrf_token(token)


async def form_checked(request: Request, csrf: str) -> dict[str, str]:
    """The posted form, after its CSRF field matched."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    if not hmac.compare_digest(sent, csrf):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "form expired or forged: reload the page")
    return {key: str(value) for key, value in form.multi_items()}
