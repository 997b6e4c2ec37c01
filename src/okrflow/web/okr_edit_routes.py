"""Editing in the OKR web pages: edit and delete objectives, key results and check-ins under optimistic
locking, and the workspace's OKR settings (admins).

Every edit form carries the row's ``version`` (hidden field) and passes it to the service as
``expected_version``. When someone else changed the row meanwhile the service raises
:class:`~okrflow.domain.errors.StaleVersionError`; the page answers **412** with the same fragment, the user's
input still in the form and a "someone else changed this — reload" message, and nothing is written.
Validation errors come back inline as 422 (HTMX) like the create forms. Deleting takes two steps: the *Delete*
button is swapped for a confirm button (``GET …/delete?version=N``), which posts the delete.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from okrflow.domain.access import Permission
from okrflow.domain.errors import (
    InvalidInputError,
    NotFoundError,
    OkrflowError,
    PermissionDeniedError,
    StaleVersionError,
)
from okrflow.services import catalog, okr, tenancy
from okrflow.store.models import Workspace
from okrflow.store.models_okr import KeyResult
from okrflow.web import forms
from okrflow.web.forms import CsrfHeader, CsrfToken
from okrflow.web.okr_routes import (
    _float,
    _kr_page_data,
    _objective_in_ws,
    _objective_page_data,
    kr_target_fields,
)
from okrflow.web.routes import (
    Ctx,
    _db,
    _error_status,
    _is_htmx,
    _parse_id,
    _require_workspace,
    current,
    render,
)

DELETE_KINDS = {"objective": "objective", "kr": "key result", "checkin": "check-in"}
# Where the settings form shows a refusal of the service: its field names differ from the form's.
SETTINGS_FIELDS = {"confidence": "on_track", "settings.okr": "_form"}
SETTINGS_STALE = (
    "someone else changed the workspace's settings since you opened this page. Nothing was saved "
    "and your input is still in the form: reload to see their change, then apply yours again"
)


def _stale_message(what: str, exc: StaleVersionError) -> str:
    now = exc.details.get("current_version")
    version = f" (it is at version {now} now)" if now is not None else ""
    return (
        f"someone else changed this {what} since you opened the form{version}. Nothing was saved and your input "
        "is still in the form: reload the page to see their change, then apply yours again"
    )


# ------------------------------------------------------------------ form values of the current rows


def objective_edit_values(data: dict[str, Any]) -> dict[str, str]:
    obj = data["obj"]
    return {
        "title": obj.title,
        "description": obj.description or "",
        "status": obj.status,
        "commitment": obj.commitment,
        "owner_person_id": str(obj.owner_person_id or ""),
        "aligned_to_kr_id": str(obj.aligned_to_kr_id or ""),
        "version": str(obj.version),
    }


def num_text(value: float | None) -> str:
    """A number for an input field, exactly (no rounding: a form saved unchanged must not change the value)."""
    if value is None:
        return ""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def kr_edit_values(kr: KeyResult) -> dict[str, str]:
    return {
        "title": kr.title,
        "direction": kr.direction,
        "baseline": num_text(kr.baseline),
        "target": num_text(kr.target),
        "band_low": num_text(kr.band_low),
        "band_high": num_text(kr.band_high),
        "milestones": "\n".join(kr.milestones or []),
        "unit": kr.unit or "",
        "weight": num_text(kr.weight),
        "kind": kr.kind,
        "owner_person_id": str(kr.owner_person_id or ""),
        "metric_id": str(kr.metric_id or ""),
        "version": str(kr.version),
    }


# ------------------------------------------------------------------ OKR settings


def _settings_data(ctx: Ctx, ws: Workspace, request: Request) -> dict[str, Any]:
    with _db(request).read() as s:
        ws_now = tenancy.get_workspace(s, ctx.actor, ws.id)
        metrics = [(m, catalog.current_version(s, m)) for m in catalog.list_metrics(s, ctx.actor, ws.id)]
    st = okr.OkrSettings.of(ws_now)
    form = {
        "checkin_due_days": str(st.checkin_due_days),
        "on_track": num_text(st.confidence.on_track),
        "at_risk": num_text(st.confidence.at_risk),
        "include_aligned_in_progress": "1" if st.include_aligned_in_progress else "",
        "north_star_metric_id": str(ws_now.north_star_metric_id or ""),
        "version": str(ws_now.version),
    }
    return {"ws": ws_now, "metrics": metrics, "form": form, "okr_settings": st}


def _require_admin(ctx: Ctx, ws: Workspace) -> None:
    if not ctx.actor.can(Permission.ADMIN, ws.id):
        raise PermissionDeniedError("the workspace's OKR settings need the admin role")


# ------------------------------------------------------------------ routes


def install(app: FastAPI) -> None:
    # ---------------------------------------------------------------- objective

    @app.post("/okr/objective/{objective_id}/edit", response_class=HTMLResponse, include_in_schema=False)
    def objective_edit(
        request: Request,
        objective_id: int,
        title: Annotated[str, Form()] = "",
        description: Annotated[str, Form()] = "",
        status: Annotated[str, Form()] = "active",
        commitment: Annotated[str, Form()] = "committed",
        owner_person_id: Annotated[str, Form()] = "",
        aligned_to_kr_id: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            obj = _objective_in_ws(s, ctx, ws, objective_id)
        forms.require_write(ctx, ws, obj.team_id, "changing this objective needs the contributor role on its team")
        form = {
            "title": title,
            "description": description,
            "status": status,
            "commitment": commitment,
            "owner_person_id": owner_person_id,
            "aligned_to_kr_id": aligned_to_kr_id,
            "version": version,
        }
        errors: dict[str, str] = {}
        if not title.strip():
            errors["title"] = "give the objective a title"
        expected = forms.expected_version(version, errors)
        saving = forms.Saving(errors)
        if not errors:
            changes = {
                "title": title,
                "description": description.strip(),
                "status": status,
                "commitment": commitment,
                "owner_person_id": _parse_id(owner_person_id),
                "aligned_to_kr_id": _parse_id(aligned_to_kr_id),
            }
            with saving.catch(lambda exc: _stale_message("objective", exc)), db.write() as s:
                okr.update_objective(s, ctx.actor, obj.id, changes, expected_version=expected)
        saved = not saving.failed
        if saved and not _is_htmx(request):
            return RedirectResponse(f"/okr/objective/{obj.id}?saved=1", status_code=303)
        with db.read() as s:
            data = _objective_page_data(s, ctx, ws, obj.id)
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_objective_page.html",
            page="objective.html",
            nav="okr",
            form={},
            errors={},
            created=None,
            kr_created=None,
            **{
                **data,
                "edit_form": objective_edit_values(data) if saved else form,
                "edit_errors": errors,
                "edit_open": not saved,
                "stale": saving.stale,
                "saved": "objective" if saved else None,
            },
        )

    # ---------------------------------------------------------------- key result

    @app.post("/okr/kr/{kr_id}/edit", response_class=HTMLResponse, include_in_schema=False)
    def kr_edit(
        request: Request,
        kr_id: int,
        title: Annotated[str, Form()] = "",
        direction: Annotated[str, Form()] = "increase",
        baseline: Annotated[str, Form()] = "",
        target: Annotated[str, Form()] = "",
        band_low: Annotated[str, Form()] = "",
        band_high: Annotated[str, Form()] = "",
        milestones: Annotated[str, Form()] = "",
        unit: Annotated[str, Form()] = "",
        weight: Annotated[str, Form()] = "1",
        kind: Annotated[str, Form()] = "outcome",
        owner_person_id: Annotated[str, Form()] = "",
        metric_id: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            kr, obj = okr.get_key_result(s, ctx.actor, kr_id)
        if obj.workspace_id != ws.id:
            raise NotFoundError(f"key result {kr_id} is not in workspace {ws.name}; switch workspace first")
        forms.require_write(ctx, ws, obj.team_id, "changing this key result needs the contributor role on its team")
        form = {
            "title": title,
            "direction": direction,
            "baseline": baseline,
            "target": target,
            "band_low": band_low,
            "band_high": band_high,
            "milestones": milestones,
            "unit": unit,
            "weight": weight,
            "kind": kind,
            "owner_person_id": owner_person_id,
            "metric_id": metric_id,
            "version": version,
        }
        errors: dict[str, str] = {}
        if not title.strip():
            errors["title"] = "give the key result a title"
        kw = kr_target_fields(form, errors)
        expected = forms.expected_version(version, errors)
        saving = forms.Saving(errors)
        if not errors:
            changes: dict[str, Any] = {
                "title": title,
                "direction": direction,
                "unit": unit.strip(),
                "kind": kind,
                "owner_person_id": _parse_id(owner_person_id),
                "metric_id": _parse_id(metric_id),
                "band_low": None,
                "band_high": None,
                "milestones": [],
                **kw,
            }
            if changes["metric_id"] != kr.metric_id:
                changes["metric_dimensions"] = {}
            with saving.catch(lambda exc: _stale_message("key result", exc)), db.write() as s:
                okr.update_key_result(s, ctx.actor, kr.id, changes, expected_version=expected)
        saved = not saving.failed
        if saved and not _is_htmx(request):
            return RedirectResponse(f"/okr/kr/{kr.id}?saved=1", status_code=303)
        with db.read() as s:
            data = _kr_page_data(s, ctx, ws, kr.id)
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_kr_page.html",
            page="kr.html",
            nav="okr",
            form={},
            errors={},
            checked_in=False,
            **{
                **data,
                "edit_form": kr_edit_values(data["kr"]) if saved else form,
                "edit_errors": errors,
                "edit_open": not saved,
                "stale": saving.stale,
                "saved": "key result" if saved else None,
            },
        )

    # ---------------------------------------------------------------- check-in

    @app.post("/okr/checkin/{checkin_id}/edit", response_class=HTMLResponse, include_in_schema=False)
    def checkin_edit(
        request: Request,
        checkin_id: int,
        value: Annotated[str, Form()] = "",
        confidence: Annotated[str, Form()] = "",
        note: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        with db.read() as s:
            c, kr, obj = okr.get_checkin(s, ctx.actor, checkin_id)
        if obj.workspace_id != ws.id:
            raise NotFoundError(f"check-in {checkin_id} is not in workspace {ws.name}; switch workspace first")
        forms.require_write(
            ctx, ws, obj.team_id, "editing a check-in needs the contributor role on this objective's team"
        )
        form = {"value": value, "confidence": confidence, "note": note, "version": version}
        errors: dict[str, str] = {}
        changes: dict[str, Any] = {"note": note}
        if kr.metric_id is None:
            changes["value"] = _float(value, "value", errors, required=True, label="value")
        conf = _float(confidence, "confidence", errors, required=True, label="confidence")
        if conf is not None and not 0 <= conf <= 10:
            errors["confidence"] = "confidence is a number from 0 to 10"
        changes["confidence"] = conf
        if len(note) > 2000:
            errors["note"] = "keep the note under 2000 characters"
        expected = forms.expected_version(version, errors)
        saving = forms.Saving(errors)
        if not errors:
            with saving.catch(lambda exc: _stale_message("check-in", exc)), db.write() as s:
                okr.update_checkin(s, ctx.actor, c.id, changes, expected_version=expected)
        saved = not saving.failed
        if saved and not _is_htmx(request):
            return RedirectResponse(f"/okr/kr/{kr.id}", status_code=303)
        with db.read() as s:
            data = _kr_page_data(s, ctx, ws, kr.id)
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_kr_live.html",
            page="kr.html",
            nav="okr",
            form={},
            errors={},
            checked_in=False,
            **{
                **data,
                "editing_checkin": None if saved else c.id,
                "ci_form": form,
                "ci_errors": errors,
                "ci_stale": saving.stale,
                "ci_notice": "Check-in updated." if saved else None,
            },
        )

    # ---------------------------------------------------------------- delete (two steps)

    def _delete_target(request: Request, ctx: Ctx, ws: Workspace, kind: str, item_id: int) -> dict[str, Any]:
        """What is deleted: its label, version, team (for the permission), and where to go afterwards."""
        if kind not in DELETE_KINDS:
            raise NotFoundError("there is no page at this address; it may have moved or never existed")
        with _db(request).read() as s:
            if kind == "objective":
                obj = _objective_in_ws(s, ctx, ws, item_id)
                n = len(okr.list_key_results(s, ctx.actor, obj.id))
                return {
                    "title": obj.title,
                    "version": obj.version,
                    "team_id": obj.team_id,
                    "page": f"/okr/objective/{obj.id}",
                    "after": "/okr?deleted=objective",
                    "what": f"objective “{obj.title}” with its {n} key result{'s' if n != 1 else ''} "
                    "and their check-ins",
                }
            if kind == "kr":
                kr, obj = okr.get_key_result(s, ctx.actor, item_id)
                n = len(okr.list_checkins(s, ctx.actor, kr.id))
                title, version, kr_id = kr.title, kr.version, kr.id
                what = f"key result “{title}” with its {n} check-in{'s' if n != 1 else ''}"
                page, after = f"/okr/kr/{kr_id}", f"/okr/objective/{obj.id}?deleted=kr"
            else:
                c, kr, obj = okr.get_checkin(s, ctx.actor, item_id)
                title, version = f"{c.at:%-d %b %Y}", c.version
                what = f"the check-in of {title}"
                page = after = f"/okr/kr/{kr.id}"
            if obj.workspace_id != ws.id:
                raise NotFoundError(f"that {DELETE_KINDS[kind]} is not in workspace {ws.name}; switch workspace first")
            return {
                "title": title,
                "version": version,
                "team_id": obj.team_id,
                "page": page,
                "after": after,
                "what": what,
            }

    def _confirm(
        request: Request,
        ctx: Ctx,
        kind: str,
        item_id: int,
        target: dict[str, Any],
        *,
        step: str,
        version: int | None,
        message: str | None = None,
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        context: dict[str, Any] = {
            "kind": kind,
            "item_id": item_id,
            "label": DELETE_KINDS[kind],
            "target": target,
            "step": step,
            "del_version": version if version is not None else target["version"],
            "message": message,
        }
        if _is_htmx(request):
            return render(request, "_confirm_delete.html", ctx, status_code=status_code, headers=headers, **context)
        return render(request, "confirm_delete.html", ctx, status_code=status_code, nav="okr", **context)

    @app.get("/okr/{kind}/{item_id}/delete", response_class=HTMLResponse, include_in_schema=False)
    def delete_confirm(
        request: Request, kind: str, item_id: int, version: int | None = None, cancel: str = ""
    ) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        target = _delete_target(request, ctx, ws, kind, item_id)
        forms.require_write(
            ctx, ws, target["team_id"], f"deleting this {DELETE_KINDS[kind]} needs the contributor role on its team"
        )
        if cancel and not _is_htmx(request):
            return RedirectResponse(target["page"], status_code=303)
        return _confirm(request, ctx, kind, item_id, target, step="button" if cancel else "confirm", version=version)

    @app.post("/okr/{kind}/{item_id}/delete", response_class=HTMLResponse, include_in_schema=False)
    def delete_item(
        request: Request,
        kind: str,
        item_id: int,
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        target = _delete_target(request, ctx, ws, kind, item_id)
        label = DELETE_KINDS[kind]
        forms.require_write(ctx, ws, target["team_id"], f"deleting this {label} needs the contributor role on its team")
        expected = forms.parse_version(version)
        message: str | None = None
        status = 200
        kr_id: int | None = None
        try:
            if expected is None:
                raise InvalidInputError(forms.NO_VERSION)
            with db.write() as s:
                if kind == "objective":
                    okr.delete_objective(s, ctx.actor, item_id, expected_version=expected)
                elif kind == "kr":
                    okr.delete_key_result(s, ctx.actor, item_id, expected_version=expected)
                else:
                    _c, kr, _o = okr.get_checkin(s, ctx.actor, item_id)
                    kr_id = kr.id
                    okr.delete_checkin(s, ctx.actor, item_id, expected_version=expected)
        except PermissionDeniedError:
            raise
        except StaleVersionError:
            message = (
                f"someone else changed this {label} since you opened the page. Nothing was deleted: "
                "reload to see their change, then decide again"
            )
            status = 412
        except OkrflowError as exc:
            message = exc.message + "; nothing was deleted"
            status = _error_status(request, exc.http_status)
        if message is not None:
            headers = {"HX-Retarget": f"#del-{kind}-{item_id}", "HX-Reswap": "outerHTML"}
            return _confirm(
                request,
                ctx,
                kind,
                item_id,
                target,
                step="error",
                version=expected,
                message=message,
                status_code=status,
                headers=headers if _is_htmx(request) else None,
            )
        if kind == "checkin" and _is_htmx(request):
            assert kr_id is not None
            with db.read() as s:
                data = _kr_page_data(s, ctx, ws, kr_id)
            return render(
                request,
                "_kr_live.html",
                ctx,
                form={},
                errors={},
                checked_in=False,
                **{**data, "ci_notice": "Check-in deleted."},
            )
        if _is_htmx(request):
            return Response(status_code=204, headers={"HX-Redirect": target["after"]})
        return RedirectResponse(target["after"], status_code=303)

    # ---------------------------------------------------------------- workspace OKR settings

    @app.get("/okr/settings", response_class=HTMLResponse, include_in_schema=False)
    def okr_settings_page(request: Request, saved: str | None = None) -> Response:
        ctx = current(request)
        ws = _require_workspace(ctx)
        _require_admin(ctx, ws)
        data = _settings_data(ctx, ws, request)
        return render(request, "okr_settings.html", ctx, nav="okr", errors={}, stale=None, saved=bool(saved), **data)

    @app.post("/okr/settings", response_class=HTMLResponse, include_in_schema=False)
    def okr_settings_save(
        request: Request,
        checkin_due_days: Annotated[str, Form()] = "",
        on_track: Annotated[str, Form()] = "",
        at_risk: Annotated[str, Form()] = "",
        include_aligned_in_progress: Annotated[str, Form()] = "",
        north_star_metric_id: Annotated[str, Form()] = "",
        version: Annotated[str, Form()] = "",
        csrf_token: CsrfToken = "",
        x_csrf_token: CsrfHeader = None,
    ) -> Response:
        ctx, ws, db = forms.begin(request, csrf_token, x_csrf_token)
        _require_admin(ctx, ws)
        form = {
            "checkin_due_days": checkin_due_days,
            "on_track": on_track,
            "at_risk": at_risk,
            "include_aligned_in_progress": include_aligned_in_progress,
            "north_star_metric_id": north_star_metric_id,
            "version": version,
        }
        errors: dict[str, str] = {}
        days_text = checkin_due_days.strip()
        days: int | None = None
        if not days_text:
            errors["checkin_due_days"] = "enter the number of days"
        else:
            try:
                days = int(days_text)
            except ValueError:
                errors["checkin_due_days"] = "the number of days is a whole number"
        on = _float(on_track, "on_track", errors, required=True, label="on-track threshold")
        risk = _float(at_risk, "at_risk", errors, required=True, label="at-risk threshold")
        expected = forms.expected_version(version, errors)
        saving = forms.Saving(errors, rename=SETTINGS_FIELDS)
        if not errors:
            raw = {
                "checkin_due_days": days,
                "confidence": {"on_track": on, "at_risk": risk},
                "include_aligned_in_progress": bool(include_aligned_in_progress),
            }
            with saving.catch(lambda _exc: SETTINGS_STALE):
                okr_raw = okr.validate_settings(raw)
                with db.write() as s:
                    current_ws = tenancy.get_workspace(s, ctx.actor, ws.id)
                    settings = dict(current_ws.settings or {})  # keep the other keys as they are
                    settings["okr"] = okr_raw
                    tenancy.update_workspace(s, ctx.actor, ws.id, {"settings": settings}, expected_version=expected)
                    metric = _parse_id(north_star_metric_id)
                    if metric != current_ws.north_star_metric_id:
                        okr.set_north_star(s, ctx.actor, ws.id, metric)
        saved = not saving.failed
        if saved and not _is_htmx(request):
            return RedirectResponse("/okr/settings?saved=1", status_code=303)
        data = _settings_data(ctx, ws, request)
        if not saved:
            data["form"] = form
        return forms.redisplay(
            request,
            ctx,
            saving,
            fragment="_okr_settings_form.html",
            page="okr_settings.html",
            nav="okr",
            errors=errors,
            stale=saving.stale,
            saved=saved,
            **data,
        )


__all__ = ["install", "kr_edit_values", "num_text", "objective_edit_values"]
