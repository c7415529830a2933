"""The PM's page: demand per epic, the reasons behind it, and the feedback no epic claims yet.

A Starlette app over the store (read through ``sync/board.py``); decisions go
through ``sync/linking/decisions.py``, the same manual decisions as
``demandsync link``/``unlink``. Pages are server-rendered Jinja2 (autoescaped:
feedback text is untrusted) and work without JavaScript; ``static/page.js``
adds instant sorting and filtering and posts decisions without a reload.
Everything it serves ships in the package (no CDN).

Routes: ``/`` ``/epics/{key}`` ``/inbox`` (pages), ``/decisions`` (the pages'
forms), ``/login``, and the JSON API ``/api/epics``, ``/api/epics/{key}``,
``/api/inbox``, ``POST /api/decisions`` (contract in the README).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from demandsync.config import Config
from demandsync.figures import FIGURES
from demandsync.handles import item_handle
from demandsync.sync import board
from demandsync.sync.linking import decisions
from demandsync.sync.store.store import Store
from demandsync.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LOOPBACK_NAMES,
    SESSION_COOKIE,
    Guard,
    csrf_ok,
    new_csrf,
    safe_next,
    same_origin,
)
from demandsync.web.sparkline import sparkline

_STATIC = Path(__file__).parent / "static"
_PUBLIC = ("/static/", "/login")
_METHODS = {"manual": "manual", "explicit": "explicit (key in the item)", "rule": "rule", "similarity": "similarity"}


def _handle(ref: str) -> str:
    """The short, shell-safe handle of ``SOURCE:ITEM_ID`` that the CLI shows too (display only:
    forms and the API keep the full reference)."""
    source, _, external_id = str(ref).partition(":")
    return item_handle(source, external_id)


def create_app(config: Config, *, host: str = "127.0.0.1", now: Callable[[], datetime] | None = None) -> Starlette:
    """The app for one config. ``host`` is where it listens: on loopback, only loopback Host headers are served."""
    web = config.settings.web
    token = web.token.get_secret_value() if web.token else None
    guard = Guard(token)
    clock = now or (lambda: datetime.now(UTC))
    figures = board.shown_figures(list(config.settings.tracker.fields))
    from demandsync.sync.run import build_tracker

    tracker = build_tracker(config)  # only for its links: no request is made
    browse_url = tracker.browse_url
    tracker.close()
    store_holder: dict[str, Store] = {}
    env = Environment(loader=PackageLoader("demandsync.web", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["safe_url"] = _safe_url
    env.filters["handle"] = _handle
    env.globals.update(figure_help={k: f.help for k, f in FIGURES.items()},
                       figure_kind={k: f.kind for k, f in FIGURES.items()}, methods=_METHODS, sparkline=sparkline)

    def store() -> Store:
        if "s" not in store_holder:
            store_holder["s"] = Store.open(config.store_url)
        return store_holder["s"]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        if "s" in store_holder:
            store_holder.pop("s").close()

    def render(request: Request, name: str, **context: Any) -> HTMLResponse:
        s = store()
        run = board.last_sync(s)
        context.update(
            request=request, csrf=request.state.csrf, login=guard.token is not None, browse_url=browse_url,
            last_run=run, pending=s.manual_decisions_since(run["started_at"] if run else None), path=request.url.path,
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        )
        return HTMLResponse(env.get_template(name).render(**context))

    def epic_keys() -> list[tuple[str, str]]:
        """Key and summary of every epic, for the pages whose forms pick one (not the epics list)."""
        return [(e.key, e.summary) for e in store().epics()]

    # ---- pages ------------------------------------------------------------------------

    def epics_page(request: Request) -> Response:
        cards = current_cards()
        query = request.query_params.get("q", "").strip()
        if query:
            cards = [c for c in cards if query.lower() in f"{c.key} {c.summary} {c.sources}".lower()]
        sort = request.query_params.get("sort", "")
        if sort in figures:
            cards.sort(key=lambda c: (_sortable(c.figures.get(sort)), c.key), reverse=request.query_params.get("dir") != "asc")
        elif sort in ("key", "summary"):
            cards.sort(key=lambda c: getattr(c, sort).lower(), reverse=request.query_params.get("dir") == "desc")
        return render(request, "epics.html", cards=cards, figures=figures, query=query, sort=sort,
                      weeks=board.week_starts(clock()))

    def epic_page(request: Request) -> Response:
        key = request.path_params["key"]
        card = next((c for c in current_cards() if c.key == key), None)
        if card is None:
            return render(request, "missing.html", key=key)
        return render(request, "epic.html", card=card, figures=figures, items=board.epic_items(store(), key),
                      weeks=board.week_starts(clock()), epic_keys=epic_keys())

    cache: dict[str, tuple[Any, Any]] = {}

    def cached(name: str, compute: Callable[[], Any]) -> Any:
        """Themes and 2,000 epic cards take seconds: computed again only when items, links,
        epics or the last run changed."""
        run = board.last_sync(store())
        stamp = (store().links_stamp(), run and (run["id"], run["status"]), clock().date())
        if name not in cache or cache[name][0] != stamp:
            cache[name] = (stamp, compute())
        return cache[name][1]

    def current_inbox() -> board.Inbox:
        box: board.Inbox = cached("inbox", lambda: board.inbox(store(), theme_items=web.theme_items))
        return box

    def current_cards() -> list[board.EpicCard]:
        cards: list[board.EpicCard] = cached("cards", lambda: board.epic_cards(store(), figures, clock()))
        return list(cards)

    def inbox_page(request: Request) -> Response:
        box = current_inbox()
        themed = {i for t in box.themes for i in t.items}
        by_id = {i.id: i for i in box.items}
        loose = [i for i in box.items if i.id not in themed][:300]
        return render(request, "inbox.html", box=box, by_id=by_id, loose=loose, epic_keys=epic_keys())

    async def decide_form(request: Request) -> Response:
        form = await request.form()
        if not csrf_ok(request, _str(form.get(CSRF_FIELD))):
            return PlainTextResponse("refused: the form's CSRF token does not match (reload the page)", 403)
        nxt = safe_next(_str(form.get("next")))
        refs = [str(v) for v in form.getlist("item") if str(v)]
        epic = (_str(form.get("epic")) or _str(form.get("other")) or "").strip()
        kind = _str(form.get("decision")) or ""
        try:
            done = decisions.decide_many(store(), refs, epic, kind, _str(form.get("from")), note="web")
        except decisions.DecisionError as exc:
            return PlainTextResponse(str(exc), 400)
        if request.headers.get("x-requested-with") == "fetch":
            return JSONResponse({"ok": True, "decided": done})
        return RedirectResponse(nxt, status_code=303)

    # ---- login ------------------------------------------------------------------------

    def login_page(request: Request) -> Response:
        return HTMLResponse(env.get_template("login.html").render(
            request=request, csrf=request.state.csrf, next=safe_next(request.query_params.get("next")), error=None,
            login=False, path="/login"))

    async def login_post(request: Request) -> Response:
        form = await request.form()
        nxt = safe_next(_str(form.get("next")))
        if not csrf_ok(request, _str(form.get(CSRF_FIELD))) or not guard.token_matches(_str(form.get("token")) or ""):
            return HTMLResponse(env.get_template("login.html").render(
                request=request, csrf=request.state.csrf, next=nxt, error="That token is not right.", login=False,
                path="/login"), status_code=401)
        response = RedirectResponse(nxt, status_code=303)
        response.set_cookie(SESSION_COOKIE, guard.session, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        return response

    def logout(_request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE)
        return response

    # ---- JSON API ---------------------------------------------------------------------

    def api_epics(_request: Request) -> Response:
        cards = current_cards()
        return JSONResponse({"figures": figures, "epics": [_card_json(c) for c in cards]})

    def api_epic(request: Request) -> Response:
        key = request.path_params["key"]
        card = next((c for c in current_cards() if c.key == key), None)
        if card is None:
            return JSONResponse({"error": f"{key} is not an epic demandsync has seen"}, 404)
        return JSONResponse(_card_json(card) | {"items": board.epic_items(store(), key)})

    def api_inbox(request: Request) -> Response:
        limit = request.query_params.get("limit", "500")
        doc = current_inbox().as_dict()
        doc["items"] = doc["items"][: int(limit) if limit.isdigit() else 500]
        return JSONResponse(doc)

    async def api_decide(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send application/json"}, 415)
        try:
            body = json.loads(await request.body())
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        if not isinstance(body, dict):
            return JSONResponse({"error": 'send {"item": "SOURCE:ID", "epic": "KEY", "decision": "accept"}'}, 400)
        many = body.get("items")
        refs: list[Any] = many if isinstance(many, list) else [body.get("item")]
        try:
            done = decisions.decide_many(store(), [str(r) for r in refs if r], str(body.get("epic") or ""),
                                         str(body.get("decision") or ""), _str(body.get("from")), note="web api")
        except decisions.DecisionError as exc:
            return JSONResponse({"error": str(exc)}, 404 if isinstance(exc, decisions.NotFound) else 400)
        return JSONResponse({"ok": True, "decided": done})

    async def guard_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        request.state.csrf = request.cookies.get(CSRF_COOKIE) or new_csrf()
        if request.method not in ("GET", "HEAD", "OPTIONS") and not same_origin(request):
            return PlainTextResponse("refused: this request comes from another site", 403)
        if not path.startswith(_PUBLIC):
            if path.startswith("/api/"):
                if not (guard.bearer_ok(request) or (guard.token is not None and guard.logged_in(request))):
                    return JSONResponse({"error": "send Authorization: Bearer <[web] token>"}, 401,
                                        headers={"WWW-Authenticate": "Bearer"})
            elif not guard.logged_in(request):
                return RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        response = await call_next(request)
        if CSRF_COOKIE not in request.cookies:
            response.set_cookie(CSRF_COOKIE, request.state.csrf, httponly=True, samesite="strict",
                                secure=request.url.scheme == "https")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        return response

    middleware = [Middleware(BaseHTTPMiddleware, dispatch=guard_requests)]
    if guard.token is None:  # loopback only: refuse DNS-rebound names
        middleware.insert(0, Middleware(TrustedHostMiddleware, allowed_hosts=[*LOOPBACK_NAMES, host]))
    routes = [
        Route("/", epics_page),
        Route("/epics/{key}", epic_page),
        Route("/inbox", inbox_page),
        Route("/decisions", decide_form, methods=["POST"]),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/api/epics", api_epics),
        Route("/api/epics/{key}", api_epic),
        Route("/api/inbox", api_inbox),
        Route("/api/decisions", api_decide, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_STATIC), name="static"),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def _card_json(card: board.EpicCard) -> dict[str, Any]:
    return {"key": card.key, "summary": card.summary, "status": card.status, "figures": card.figures,
            "unwritten": card.unwritten, "sources": card.sources, "weekly_requests": card.weeks}


def _safe_url(url: str | None) -> str | None:
    """Only http(s) links leave the page: a ``javascript:`` URL in feedback must never become a link."""
    return url if url and url.lower().startswith(("https://", "http://")) else None


def _sortable(value: Any) -> tuple[int, Any]:
    if isinstance(value, int | float):
        return (1, value)
    return (0, str(value or ""))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None
