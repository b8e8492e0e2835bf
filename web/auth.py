"""Who is asking, and may they: every route declares its access (``@public`` or ``@requires(...)``); the
identity comes from an API token (``Authorization: Bearer``, or HTTP Basic with the user name and a token as
password, which is what QGIS sends) or from the session cookie; unsafe requests from a browser need the CSRF
token. The domain receives the identity's scope, so no page can forget it.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, Request, Response, g, redirect, request, url_for
from flask.sessions import SessionInterface, SessionMixin
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response as BaseResponse

from outfalls import accounts
from outfalls.accounts import Identity
from outfalls.errors import NotAuthenticated, PermissionDenied
from outfalls.identity import RequestIdentity, session_identity, token_identity
from outfalls.scope import Scope
from outfalls.types import Role
from web.db import primary_bind
from web.db import primary_db as db  # who is asking, and their activity, is the primary's business

SESSION_COOKIE = "outfalls_session"
ANON_CSRF_COOKIE = "outfalls_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Basic realm="outfalls", charset="UTF-8"'

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class Access:
    """What a route needs: nothing (public), a login, or one of some roles."""

    public: bool = False
    roles: frozenset[Role] = frozenset()
    anonymous: bool = False  # public pages for everyone: no identity is read, no cookie set, no CSRF token asked


def anonymous(view: F) -> F:
    """Declare a route for everyone that treats every caller alike (the public pages): the request's login is
    not even read, so the answer is the same for all and can be cached; a form posted here carries no CSRF token
    (there is no session to ride on), only the check that it comes from this site.
    """
    view.access = Access(public=True, anonymous=True)  # type: ignore[attr-defined]
    return view


def public(view: F) -> F:
    """Declare a route open to everyone."""
    view.access = Access(public=True)  # type: ignore[attr-defined]
    return view


def requires(*roles: Role) -> Callable[[F], F]:
    """Declare a route for logged-in users holding one of ``roles`` (any logged-in user when none given)."""

    def mark(view: F) -> F:
        view.access = Access(roles=frozenset(roles))  # type: ignore[attr-defined]
        return view

    return mark


def current_identity() -> Identity:
    """The identity of the request (routes that require a login always have one)."""
    identity: Identity | None = g.get("identity")
    if identity is None:
        raise NotAuthenticated("log in first")
    return identity


def current_scope() -> Scope:
    """The scope of the request's user."""
    return current_identity().scope


def access_of(app: Flask, endpoint: str) -> Access | None:
    """The access a route declared, or None (a bug the route inventory test catches)."""
    return getattr(app.view_functions.get(endpoint), "access", None)


def _wants_html() -> bool:
    return not request.path.startswith("/api/") and request.accept_mimetypes.best != "application/json"


def _token_identity() -> RequestIdentity | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if not value:
        return None
    ip = request.remote_addr
    if scheme.lower() == "bearer":
        return token_identity(db, value, ip=ip, bind=primary_bind())
    if scheme.lower() == "basic":
        try:
            login, _, token = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError) as err:
            raise NotAuthenticated("malformed Basic credentials") from err
        # Basic carries an API token as the password, never the login password.
        return token_identity(db, token, login=login, ip=ip, bind=primary_bind())
    return None


def _resolve_identity() -> Identity | None:
    """The request's identity: one SELECT, and a commit only when the session's "last seen" or the token's use is
    recorded (at most once a minute) or a refused token is audited.
    """
    # the session is opened only when needed: a kept identity that writes nothing needs none
    try:
        found = _token_identity()
    except NotAuthenticated:
        db().commit()  # the refusal is audited
        raise
    if found is None:
        found = session_identity(db, request.cookies.get(SESSION_COOKIE), bind=primary_bind())
        if found is not None:
            g.session_csrf = found.csrf_token
    if found is None:
        return None
    if found.wrote:
        db().commit()
    return found.identity


def expected_csrf() -> str:
    """The CSRF token forms must carry: the session's, or for anonymous forms (login) a cookie's."""
    session_csrf: str | None = g.get("session_csrf")
    if session_csrf is not None:
        return session_csrf
    token = g.get("anon_csrf") or request.cookies.get(ANON_CSRF_COOKIE)
    if not token:
        token = secrets.token_urlsafe(32)
        g.set_anon_csrf = token
    g.anon_csrf = token
    return str(token)


def _check_origin() -> None:
    """Refuse a state-changing request that a browser says comes from another site, whatever it carries.

    Browsers send ``Origin`` (and ``Sec-Fetch-Site``) with every cross-site POST; scripts and GIS clients send
    neither. This guards the requests the CSRF token cannot: those with credentials a browser may replay by itself.
    """
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise PermissionDenied("a request from another site cannot change anything here", reason="cross_site")
    origin = request.headers.get("Origin")
    if origin and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc.lower() != request.host.lower():
            raise PermissionDenied("a request from another site cannot change anything here", reason="cross_site")
    elif origin == "null":
        raise PermissionDenied("a request from another site cannot change anything here", reason="cross_site")


def offers_basic() -> bool:
    """Whether a 401 invites HTTP Basic: only for the API and OGC clients asking for data, never for a browser
    page (a browser would keep the credentials and replay them to this site from any other).
    """
    if not request.path.startswith(("/api/", "/ogc")):
        return False
    best = request.accept_mimetypes.best
    return best not in ("text/html", "application/xhtml+xml")


def _check_csrf() -> None:
    sent = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    session_csrf: str | None = g.get("session_csrf")
    expected = session_csrf if session_csrf is not None else request.cookies.get(ANON_CSRF_COOKIE)
    if not expected or not secrets.compare_digest(str(sent), str(expected)):
        raise PermissionDenied("the form has expired or did not come from this site; reload the page and try again")


class NoFlaskSession(SessionInterface):
    """The app keeps no Flask session: a login is its own cookie (``SESSION_COOKIE``, read by the access check), so
    no request unsigns Flask's ``session`` cookie and none is ever set.
    """

    def open_session(self, app: Flask, request: Request) -> SessionMixin:
        """A session that holds nothing (writing to it is an error)."""
        return self.make_null_session(app)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        """Nothing to save."""
        return None


def init_auth(app: Flask) -> None:
    """Install the access check before every request."""
    app.session_interface = NoFlaskSession()
    static: Any = app.view_functions["static"]
    static.access = Access(public=True)

    @app.before_request
    def check_access() -> ResponseReturnValue | None:
        if request.endpoint is None:
            return None  # no such route: the 404 handler answers
        access = access_of(app, request.endpoint)
        if access is None:
            raise RuntimeError(f"route {request.endpoint} declares no access (use @public or @requires)")
        g.identity = None
        if access.public and request.endpoint == "static":
            return None
        if access.anonymous:
            if request.method not in SAFE_METHODS:
                _check_origin()
            return None
        g.identity = _resolve_identity()
        identity: Identity | None = g.identity
        if request.method not in SAFE_METHODS:
            _check_origin()
            if not (identity is not None and identity.via_token):
                _check_csrf()
        if access.public:
            return None
        if identity is None:
            if _wants_html():
                return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
            raise NotAuthenticated("log in or send an API token (Authorization: Bearer, or Basic with a token)")
        if access.roles and not identity.has_any(access.roles):
            needed = ", ".join(sorted(r.value for r in access.roles))
            raise PermissionDenied(f"this needs one of the roles: {needed}", roles=needed)
        return None

    @app.after_request
    def set_anon_csrf(response: Response) -> Response:
        token = g.get("set_anon_csrf")
        if token:
            response.set_cookie(
                ANON_CSRF_COOKIE, token, httponly=True, samesite="Lax", secure=request.is_secure, max_age=12 * 3600
            )
        if response.status_code == 401 and offers_basic():
            response.headers["WWW-Authenticate"] = REALM
        return response

    @app.context_processor
    def auth_helpers() -> dict[str, object]:
        return {"current_user": g.get("identity"), "csrf_token": expected_csrf, "Role": Role}


def set_session_cookie(response: BaseResponse, token: str) -> None:
    """Send the session cookie: HttpOnly, SameSite=Lax, Secure over HTTPS."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=request.is_secure,
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
    )
