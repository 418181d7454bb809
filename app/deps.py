"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.admin_tokens import Principal, Role, authenticate
from app.container import Container

_bearer = HTTPBearer(auto_error=False, description="The write key: `Authorization: Bearer …`")
_admin_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AdminToken",
    description="An admin token from `chatcommerce tokens create`: `Authorization: Bearer …`",
)


def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


def require_write_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing write key: send 'Authorization: Bearer <CHATCOMMERCE_WRITE_KEY>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    expected = get_container(request).write_key
    if not hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid write key",
            headers={"WWW-Authenticate": "Bearer"},
        )


ContainerDep = Annotated[Container, Depends(get_container)]
WriteKey = Depends(require_write_key)


async def _principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_admin_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing admin token: send 'Authorization: Bearer <token>' "
            "(create one with `chatcommerce tokens create --role marketer`)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    async with get_container(request).readers() as session:
        who = await authenticate(session, credentials.credentials)
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid or revoked admin token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return who


def _needs(role: Role) -> Any:
    async def check(who: Annotated[Principal, Depends(_principal)]) -> Principal:
        if not who.may(role):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"this needs the {role.value} role; token {who.name!r} is {who.role.value}",
            )
        return who

    return check


Marketer = Annotated[Principal, Depends(_needs(Role.MARKETER))]
Developer = Annotated[Principal, Depends(_needs(Role.DEVELOPER))]
