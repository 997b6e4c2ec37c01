"""The web UI over ASGI (no browser): login, CSRF, throttling, sessions, pages, headers, no inline code."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from okrflow.api.app import create_app
from okrflow.domain.access import SYSTEM_ACTOR
from okrflow.services import auth, tenancy
from okrflow.store.db import Database
from okrflow.store.models import ApiToken, LoginSession, Person, Team
from okrflow.web.routes import CSRF_FAILED, safe_next, team_tree
from tests.conftest import ADMIN_PASSWORD

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
HX = {"HX-Request": "true"}


def _client(db: Database, **kwargs: object) -> TestClient:
    return TestClient(create_app(db), **kwargs)  # type: ignore[arg-type]


def _csrf(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no csrf_token field in the page"
    return m.group(1)


def _login(client: TestClient, username: str = "admin", password: str = ADMIN_PASSWORD, next: str = "/"):  # type: ignore[no-untyped-def]
    token = _csrf(client.get("/login").text)
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token, "next": next},
        follow_redirects=False,
    )


@pytest.fixture
def client(db: Database, admin_setup: object) -> TestClient:
    return _client(db)


@pytest.fixture
def admin(client: TestClient) -> TestClient:
    assert _login(client).status_code == 303
    return client


def _count(db: Database, model: type) -> int:
    with db.read() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


# ------------------------------------------------------------------ login, cookies, CSRF


def test_login_success_sets_httponly_samesite_cookie(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    login_csrf_cookie = page.headers["set-cookie"]
    assert "okrflow_login_csrf=" in login_csrf_cookie
    assert "HttpOnly" in login_csrf_cookie and "samesite=strict" in login_csrf_cookie.lower()
    resp = client.post(
        "/login",
        data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": _csrf(page.text), "next": "/teams"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"] == "/teams"
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("okrflow_session="))
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    assert client.get("/").status_code == 200


def test_secure_flag_when_configured(db: Database, admin_setup: object) -> None:
    client = TestClient(create_app(db, secure_cookies=True), base_url="https://testserver")
    resp = _login(client)
    cookie = next(c for c in resp.headers.get_list("set-cookie") if c.startswith("okrflow_session="))
    assert "Secure" in cookie


def test_wrong_password_shows_form_again(client: TestClient, db: Database) -> None:
    resp = _login(client, password="wrong-password")
    assert resp.status_code == 401
    assert "wrong username or password" in resp.text.lower()
    assert 'name="username"' in resp.text and 'value="admin"' in resp.text
    assert _count(db, LoginSession) == 0


@pytest.mark.parametrize("token", [None, "forged-token-value-that-is-long-enough-xyz"])
def test_login_csrf_rejected(client: TestClient, db: Database, token: str | None) -> None:
    client.get("/login")  # sets the double-submit cookie
    data = {"username": "admin", "password": ADMIN_PASSWORD}
    if token:
        data["csrf_token"] = token
    resp = client.post("/login", data=data, follow_redirects=False)
    assert resp.status_code == 403
    assert CSRF_FAILED in resp.text.lower()
    assert "okrflow_session" not in resp.headers.get("set-cookie", "")
    assert _count(db, LoginSession) == 0


def test_login_csrf_rejected_without_cookie(db: Database, admin_setup: object) -> None:
    token = _csrf(_client(db).get("/login").text)  # a token from another browser
    resp = _client(db).post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf_token": token})
    assert resp.status_code == 403


@pytest.mark.parametrize("how", ["missing", "wrong", "wrong-header"])
def test_post_teams_csrf_rejected(admin: TestClient, db: Database, how: str) -> None:
    data = {"name": "Checkout"}
    headers = dict(HX)
    if how == "wrong":
        data["csrf_token"] = "x" * 43
    if how == "wrong-header":
        headers["X-CSRF-Token"] = "x" * 43
    resp = admin.post("/teams", data=data, headers=headers)
    assert resp.status_code == 403
    assert CSRF_FAILED in resp.text.lower()
    assert "X-Okrflow-Error" in resp.headers  # shown by okrflow.js as a message
    assert _count(db, Team) == 0


def test_csrf_header_accepted_for_htmx(admin: TestClient, db: Database) -> None:
    token = _csrf(admin.get("/teams").text)
    resp = admin.post("/teams", data={"name": "Checkout"}, headers={**HX, "X-CSRF-Token": token})
    assert resp.status_code == 200
    assert _count(db, Team) == 1


def test_login_throttling(client: TestClient, db: Database) -> None:
    for _ in range(5):
        assert _login(client, password="not-the-password").status_code == 401
    resp = _login(client)  # the right password, but locked out
    assert resp.status_code == 429
    assert "too many failed logins" in resp.text.lower()
    assert int(resp.headers["Retry-After"]) > 0
    assert _count(db, LoginSession) == 0


def test_logout_invalidates_session(admin: TestClient, db: Database) -> None:
    secret = admin.cookies.get("okrflow_session")
    token = _csrf(admin.get("/").text)
    assert admin.post("/logout", data={}, follow_redirects=False).status_code == 403  # CSRF-checked
    resp = admin.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert _count(db, LoginSession) == 0
    # the old cookie no longer opens anything
    admin.cookies.set("okrflow_session", secret or "")
    resp = admin.get("/", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


def test_logout_is_post_only(admin: TestClient) -> None:
    assert admin.get("/logout").status_code == 405


@pytest.mark.parametrize("path", ["/", "/teams", "/people?team=1", "/account"])
def test_unauthenticated_redirect(client: TestClient, path: str) -> None:
    resp = client.get(path, follow_redirects=False)
    assert resp.status_code == 303
    location = resp.headers["location"]
    assert location.startswith("/login")
    if path != "/":
        assert "next=" in location
        page = client.get(location)
        assert f'name="next" value="{path.replace("&", "&amp;")}"' in page.text


def test_unauthenticated_htmx_and_post(client: TestClient, db: Database) -> None:
    resp = client.get("/teams", headers=HX, follow_redirects=False)
    assert resp.headers["HX-Redirect"].startswith("/login")
    resp = client.post("/teams", data={"name": "X", "csrf_token": "x"}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"] == "/login"
    assert _count(db, Team) == 0


def test_login_redirects_to_safe_next_only(client: TestClient) -> None:
    assert _login(client, next="https://evil.example/").headers["location"] == "/"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/teams", "/teams"),
        ("/people?team=3", "/people?team=3"),
        ("//evil.example", "/"),
        ("https://evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/login", "/"),
        ("/ok\r\nSet-Cookie: x=1", "/"),
        ("", "/"),
    ],
)
def test_safe_next(given: str, expected: str) -> None:
    assert safe_next(given) == expected


# ------------------------------------------------------------------ headers, static files, inline code


def test_security_headers(admin: TestClient) -> None:
    for path in ["/", "/teams", "/login", "/no-such-page"]:
        resp = admin.get(path)
        csp = resp.headers["Content-Security-Policy"]
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert "script-src 'self'" in csp and "style-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/static/vendor/htmx-2.0.11.min.js", "javascript"),
        ("/static/vendor/chart-4.6.1.umd.min.js", "javascript"),
        ("/static/okrflow.js", "javascript"),
        ("/static/okrflow.css", "text/css"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
def test_static_files_served(db: Database, path: str, kind: str) -> None:
    resp = _client(db).get(path)
    assert resp.status_code == 200
    assert kind in resp.headers["content-type"]
    assert len(resp.content) > 100


class _InlineFinder(HTMLParser):
    """Collects every way a page could carry inline script or style."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self._in_script = False
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {k.lower(): (v or "") for k, v in attrs}
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in names:
            self.problems.append(f"style= on <{tag}>")
        for k, v in names.items():
            if k.startswith("on"):
                self.problems.append(f"{k}= on <{tag}>")
            if k.startswith("hx-on"):
                self.problems.append(f"{k}= on <{tag}> (needs eval)")
            if v.strip().lower().startswith("javascript:"):
                self.problems.append(f"javascript: URL in {k}")
        if tag == "script":
            self._in_script = True
            if not names.get("src"):
                self.problems.append("<script> without src")
            else:
                self.scripts.append(names["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.problems.append(f"inline script content: {data.strip()[:60]}")


def _assert_no_inline(html: str, where: str) -> None:
    finder = _InlineFinder()
    finder.feed(html)
    assert finder.problems == [], f"{where}: {finder.problems}"


def test_no_inline_script_or_style_anywhere(db: Database, admin_setup: object) -> None:
    anon = _client(db)
    pages = {"login": anon.get("/login").text, "404 anonymous": anon.get("/missing").text}
    pages["login error"] = _login(anon, password="wrong-password-1").text
    client = _client(db)
    _login(client)
    pages["home empty"] = client.get("/").text
    token = _csrf(pages["home empty"])
    pages["team fragment"] = client.post("/teams", data={"name": "Checkout", "csrf_token": token}, headers=HX).text
    pages["team fragment error"] = client.post(
        "/teams", data={"name": "Checkout", "csrf_token": token}, headers=HX
    ).text
    client.post("/teams", data={"name": "Payments", "parent_id": "1", "csrf_token": token})
    client.post("/people", data={"name": "Ada", "team_id": "1", "csrf_token": token})
    for path in ["/", "/teams", "/people", "/people?team=1", "/account", "/nope"]:
        pages[path] = client.get(path).text
    pages["token fragment"] = client.post(
        "/account/tokens", data={"name": "ci", "scopes": ["read"], "csrf_token": token}, headers=HX
    ).text
    pages["csrf 403"] = client.post("/teams", data={"name": "X"}).text
    for where, html in pages.items():
        _assert_no_inline(html, where)
    assert "/static/okrflow.js" in pages["/"]


def test_htmx_config_disables_inline_indicator_styles(admin: TestClient) -> None:
    html = admin.get("/").text
    assert '"includeIndicatorStyles":false' in html
    assert re.search(r"<body[^>]*hx-headers='\{&#34;X-CSRF-Token&#34;|<body[^>]*hx-headers='\{\"X-CSRF-Token\"", html)


# ------------------------------------------------------------------ pages


def test_home_empty_state(admin: TestClient) -> None:
    html = admin.get("/").text
    assert "Acme" in html
    assert "Create your first team" in html
    assert "okrflow config apply okrflow.yaml" in html
    assert re.search(r'data-testid="count-teams">0<', html)
    assert re.search(r'data-testid="count-members">1<', html)


def test_team_tree_and_htmx_create(admin: TestClient, db: Database) -> None:
    token = _csrf(admin.get("/teams").text)
    frag = admin.post("/teams", data={"name": "Product Org", "csrf_token": token}, headers=HX)
    assert frag.status_code == 200
    assert "<html" not in frag.text and 'id="teams-section"' in frag.text
    assert "Team “Product Org” created." in frag.text
    with db.read() as s:
        parent = s.scalar(select(Team).where(Team.slug == "product-org"))
        assert parent is not None
    frag = admin.post(
        "/teams",
        data={"name": "Checkout", "parent_id": str(parent.id), "kind": "product", "csrf_token": token},
        headers=HX,
    )
    assert re.search(r'depth-1[^"]*" data-team-slug="checkout"', frag.text)
    # inline validation errors, no full page
    bad = admin.post("/teams", data={"name": "Checkout", "csrf_token": token}, headers=HX)
    assert bad.status_code == 422
    assert "<html" not in bad.text and "exists already" in bad.text and 'aria-invalid="true"' in bad.text
    bad = admin.post("/teams", data={"name": "  ", "csrf_token": token}, headers=HX)
    assert bad.status_code == 422 and "give the team a name" in bad.text.lower()
    bad = admin.post("/teams", data={"name": "Z", "parent_id": "999", "csrf_token": token}, headers=HX)
    assert bad.status_code == 422 and "does not exist" in bad.text
    assert _count(db, Team) == 2
    # without HTMX: redirect after success, full page with errors
    resp = admin.post("/teams", data={"name": "Growth", "csrf_token": token}, follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/teams?created=")
    resp = admin.post("/teams", data={"name": "Growth", "csrf_token": token})
    assert resp.status_code == 409 and "<html" in resp.text and "exists already" in resp.text
    home = admin.get("/").text
    assert re.search(r'data-testid="count-teams">3<', home) and "Create your first team" not in home


def test_team_tree_order() -> None:
    a, b, c, d = (
        Team(id=i, name=n, parent_id=p, slug=n.lower())
        for i, n, p in [(1, "Zeta", None), (2, "Alpha", None), (3, "Child", 1), (4, "Grandchild", 3)]
    )
    assert [(t.name, depth) for t, depth in team_tree([d, c, b, a])] == [
        ("Alpha", 0),
        ("Zeta", 0),
        ("Child", 1),
        ("Grandchild", 2),
    ]


def test_people_create_and_filter(admin: TestClient, db: Database) -> None:
    token = _csrf(admin.get("/people").text)
    admin.post("/teams", data={"name": "Checkout", "csrf_token": token})
    admin.post("/teams", data={"name": "Search", "csrf_token": token})
    with db.read() as s:
        ids = {t.slug: t.id for t in s.scalars(select(Team))}
    frag = admin.post(
        "/people",
        data={
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "title": "PM",
            "team_id": str(ids["checkout"]),
            "csrf_token": token,
        },
        headers=HX,
    )
    assert frag.status_code == 200 and "Ada Lovelace added." in frag.text
    admin.post("/people", data={"name": "Grace Hopper", "team_id": str(ids["search"]), "csrf_token": token})
    bad = admin.post("/people", data={"name": "Bad", "email": "not-an-email", "csrf_token": token}, headers=HX)
    assert bad.status_code == 422 and "is not an e-mail address" in bad.text.lower()
    assert _count(db, Person) == 2
    page = admin.get(f"/people?team={ids['checkout']}").text
    assert "Ada Lovelace" in page and "Grace Hopper" not in page
    page = admin.get("/people").text
    assert "Ada Lovelace" in page and "Grace Hopper" in page
    assert "Nobody in this team yet" in admin.get("/people?team=99999").text


def test_account_token_shown_once_and_revoked(admin: TestClient, db: Database) -> None:
    page = admin.get("/account")
    assert "admin" in page.text and "whole workspace" in page.text and "No tokens yet" in page.text
    token = _csrf(page.text)
    frag = admin.post(
        "/account/tokens",
        data={"name": "CI import", "scopes": ["read", "write"], "expires": "30", "csrf_token": token},
        headers=HX,
    )
    assert frag.status_code == 200 and "<html" not in frag.text
    secret = re.search(r'id="new-token-value"[^>]*value="(okf_[^"]+)"', frag.text)
    assert secret, frag.text
    assert "shown only this once" in frag.text
    with db.read() as s:
        user, row = auth.authenticate_token(s, secret.group(1))
        assert user.username == "admin" and row.scopes == "read,write" and row.expires_at is not None
    again = admin.get("/account").text
    assert secret.group(1) not in again and "CI import" in again and ">active<" in again
    bad = admin.post("/account/tokens", data={"name": "x", "scopes": ["root"], "csrf_token": token}, headers=HX)
    assert bad.status_code == 422 and "unknown scope" in bad.text.lower()
    bad = admin.post("/account/tokens", data={"name": "", "scopes": ["read"], "csrf_token": token}, headers=HX)
    assert bad.status_code == 422 and "needs a name" in bad.text.lower()
    assert _count(db, ApiToken) == 1
    assert admin.post(f"/account/tokens/{row.id}/revoke", data={}, headers=HX).status_code == 403
    frag = admin.post(f"/account/tokens/{row.id}/revoke", data={"csrf_token": token}, headers=HX)
    assert frag.status_code == 200 and ">revoked<" in frag.text
    with db.read() as s:
        assert auth.token_status(s.get(ApiToken, row.id)) == "revoked"
    assert admin.post("/account/tokens/99999/revoke", data={"csrf_token": token}).status_code == 404


def test_viewer_sees_no_create_forms_and_cannot_post(db: Database, admin_setup, client: TestClient) -> None:  # type: ignore[no-untyped-def]
    with db.write() as s:
        tenancy.create_user(
            s, SYSTEM_ACTOR, "vera", "viewer-password", workspace_id=admin_setup.workspace_id, role="viewer"
        )
    assert _login(client, "vera", "viewer-password").status_code == 303
    page = client.get("/teams").text
    assert 'method="post" action="/teams"' not in page and "A workspace admin creates teams" in page
    assert 'method="post" action="/people"' not in client.get("/people").text
    assert "Create your first team" not in client.get("/").text
    resp = client.post("/teams", data={"name": "Sneaky", "csrf_token": _csrf(page)}, headers=HX)
    assert resp.status_code == 403 and "needs the admin role" in resp.text.lower()
    assert "admin%20role" in resp.headers["X-Okrflow-Error"]
    assert _count(db, Team) == 0


def test_workspace_switcher(admin: TestClient, db: Database, admin_setup) -> None:  # type: ignore[no-untyped-def]
    with db.write() as s:
        ws = tenancy.create_workspace(s, SYSTEM_ACTOR, "beta", "Beta Labs")
        tenancy.create_membership(s, SYSTEM_ACTOR, ws.id, admin_setup.user_id, "viewer")
    html = admin.get("/").text
    assert 'href="/?ws=beta"' in html and 'switcher-current">Acme<' in html
    resp = admin.get("/?ws=beta")
    assert 'switcher-current">Beta Labs<' in resp.text and "okrflow_ws=beta" in resp.headers["set-cookie"]
    assert 'switcher-current">Beta Labs<' in admin.get("/teams").text  # remembered
    assert 'switcher-current">Acme<' in admin.get("/?ws=nope").text  # unknown: the first


def test_error_pages_never_show_a_traceback(db: Database, admin_setup: object) -> None:
    app = create_app(db)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    client = TestClient(app, raise_server_exceptions=False)
    _login(client)
    resp = client.get("/boom")
    assert resp.status_code == 500
    assert "Something went wrong" in resp.text and "secret internals" not in resp.text and "Traceback" not in resp.text
    resp = client.get("/does/not/exist")
    assert resp.status_code == 404 and "Page not found" in resp.text and 'class="mainnav"' in resp.text
    # the API keeps its problem+json errors
    resp = client.get("/api/v1/no-such-endpoint")
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("application/problem+json")
