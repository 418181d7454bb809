"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.container import Container

_bearer = HTTPBearer(auto_error=False, description="The write key: `Authorization: Bearer …`")


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
