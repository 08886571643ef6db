"""Request dependencies: the app state and the authenticated caller (``Annotated`` aliases)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from kg.errors import AuthError
from service.security import Principal, Scope
from service.state import AppState, Snapshot

_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.kgr
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_snapshot(state: StateDep) -> Snapshot:
    return state.current()


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


def _authenticate(
    request: Request,
    state: AppState,
    needed: Scope,
    bearer: HTTPAuthorizationCredentials | None,
    header_key: str | None,
) -> Principal:
    key = bearer.credentials if bearer is not None else header_key
    try:
        principal = state.keyring.authenticate(key, needed)
    except AuthError:
        # failed attempts share one bucket per client address, so guessing keys is throttled too
        state.limiter.take(f"client:{request.client.host if request.client else 'unknown'}")
        raise
    state.limiter.take(principal.key_id)
    return principal


def require_qa(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header_key)],
) -> Principal:
    return _authenticate(request, state, "qa", bearer, header_key)


def require_admin(
    request: Request,
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header_key: Annotated[str | None, Depends(_header_key)],
) -> Principal:
    return _authenticate(request, state, "admin", bearer, header_key)


QaCaller = Annotated[Principal, Depends(require_qa)]
AdminCaller = Annotated[Principal, Depends(require_admin)]
