"""Forms for every write an official makes, served with the dashboard (no scripts needed).

`GET /c/{code}/{form}` shows a form (api/form_specs.py); `POST` to the same path runs
the form's command through the same unit of work, with the same principal and party
scope, as the REST API's write (api/writes.py): the signed-in session's token is the
actor, an editor writes only to commitments of their party, a viewer to none.

Each form carries, made when it was rendered:
- the CSRF token (api/security.py);
- an Idempotency-Key, used as the write's: submitting twice records once, and the second
  submit lands where the first did;
- the version of the commitment it was filled in against. If the commitment changed
  meanwhile the form is refused (409), with what changed and the input as typed; it now
  carries the new version, so submitting it again records it (the official decides,
  having seen the changes).

Every refusal re-renders the form with what was typed, the message next to the field it
concerns (aria-invalid, aria-describedby) and a summary on top; success is a redirect
(Post/Redirect/Get) to the commitment page, which confirms what was recorded.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from adapters.bootstrap import Services
from adapters.event_text import item_names, summary
from adapters.history import commitment_history
from adapters.i18n import LANGUAGE_WORDS, N_, label, translator
from adapters.idempotency import IdempotencyKey, KeyReused, fingerprint
from adapters.unit_of_work import Write
from adapters.wire import body_model, to_command
from api.form_specs import (
    BY_SLUG,
    FORMS,
    PROPOSED,
    WRITTEN_IN_PAGE_LANGUAGE,
    Field,
    FormSpec,
    current_values,
    explain,
    fields_of,
    status_of,
)
from api.language import chosen_language
from api.routers.dashboard import _page, _to_login, not_found_page
from api.session_cookie import session_holder
from api.untranslated import marked
from domain.access import Principal, Role
from domain.commands import CommitmentCommand
from domain.commitment import Commitment
from domain.errors import DomainError, Forbidden, NotFound, VersionMismatch
from domain.translations import localized
from domain.views import CommitmentResource, describe

router = APIRouter(include_in_schema=False)

_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")
REQUIRED = N_("This field is required.")


def _new_key() -> str:
    return secrets.token_urlsafe(18)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


class _Form:
    """One form being shown: its spec, the commitment, what was typed and what is wrong."""

    def __init__(
        self, request: Request, spec: FormSpec, commitment: Commitment, language: str
    ) -> None:
        self.request = request
        self.spec = spec
        self.commitment = commitment
        self.c: CommitmentResource = describe(commitment, datetime.now(UTC).date())
        self.fields = fields_of(spec, self.c)
        self.language = language
        self.gettext = translator(language).gettext
        self.values: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.general: list[str] = []
        self.key = _new_key()
        self.version = str(commitment.version)
        self.changes: list[dict[str, Any]] = []

    def seen(self) -> CommitmentResource:
        """The commitment as it was when the form was filled in (its `version`): what a
        revision or a translation says the official changed. Against the state now, a
        double submit would send less the second time, and not be the same request."""
        now = self.commitment.version
        if not (self.version.isdigit() and len(self.version) < 12):
            return self.c
        version = int(self.version)
        if version == now or not 1 <= version < now:
            return self.c
        services: Services = self.request.app.state.services
        then = services.tracker.version_of(self.commitment.id, version)
        assert isinstance(then, Commitment)
        return describe(then, datetime.now(UTC).date())

    def render(
        self, status_code: int = 200, *, forbidden: str | None = None, choosing: bool = False
    ) -> Response:
        """The form; `choosing`: only its first step (`spec.step`), asked on a page of its
        own that reloads the form with the choice (GET, nothing recorded)."""
        _ = self.gettext
        shown = [f for f in self.fields if not choosing or f.name == self.spec.step]
        fields = [self._field(f) for f in shown]
        summary = list(self.general) + [
            {
                "href": f"#f-{f['name']}",
                "text": _("%(label)s: %(message)s") % {"label": f["label"], "message": f["error"]},
            }
            for f in fields
            if f["error"]
        ]
        return _page(
            self.request,
            "forms/form.html.j2",
            {
                "spec": self.spec,
                "title": _(self.spec.title),
                "action": f"/c/{self.c['code']}/{self.spec.slug}",
                "c": self.c,
                # The heading in the reader's language (fields keep the original text).
                "commitment_title": marked(localized(self.c, self.language))["title"],
                "fields": fields,
                "summary": summary,
                "key": self.key,
                "version": self.version,
                "changes": self.changes,
                "forbidden": forbidden,
                "choosing": choosing,
                # The language the texts typed here are recorded in: the page's.
                "written_in": _(LANGUAGE_WORDS[self.language])
                if self.spec.slug in WRITTEN_IN_PAGE_LANGUAGE
                else None,
                "signed_in": True,
            },
            status_code,
        )

    def _field(self, f: Field) -> dict[str, Any]:
        _ = self.gettext
        choices = f.choices(self.c, self.language) if f.choices is not None else []
        value = self.values.get(f.name, "")
        if value and f.choices is not None and value not in {v for v, _ in choices}:
            choices.append((value, value))  # chosen, and no longer offered: kept as chosen
        error = self.errors.get(f.name)
        return {
            "name": f.name,
            "label": _(f.label) % {"n": f.number} if f.number is not None else _(f.label),
            "kind": f.kind,
            "required": f.required,
            "hint": _(f.hint) if f.hint else None,
            "choices": choices,
            "minimum": f.minimum,
            "maximum": f.maximum,
            "max_length": f.max_length,
            "value": value,
            "error": error,
            "original": f.original,
            "original_language": f.original_language,
            "original_language_name": _(LANGUAGE_WORDS[f.original_language]),
            # The step chosen on the page before: shown, not asked again (unless refused).
            "fixed": f.name == self.spec.step and not error and bool(value),
            "shown_value": dict(choices).get(value, value),
        }


def _open(request: Request, services: Services, code: str, slug: str) -> _Form | Response:
    """The form on the commitment, or the page that says why there is none."""
    language = chosen_language(request)
    try:
        commitment = services.tracker.get(code)
    except NotFound:
        return not_found_page(request, code, True)
    return _Form(request, BY_SLUG[slug], commitment, language)


def _refused(form: _Form, principal: Principal) -> Response | None:
    """A page saying the holder may not write here (as the API answers 403), or None."""
    try:
        principal.require_write(form.commitment.parties)
    except Forbidden:
        _ = form.gettext
        if principal.party is None or principal.role is Role.VIEWER:
            message = _("Your access key lets you read commitments, not change them.")
        else:
            message = _("You cannot edit this commitment: %(party)s is not one of its parties.") % {
                "party": label(principal.party, form.language)
            }
        return form.render(403, forbidden=message)
    return None


def show(request: Request, code: str, slug: str) -> Response:
    services: Services = request.app.state.services
    principal = session_holder(request, services)
    if principal is None:
        return _to_login(request)
    form = _open(request, services, code, slug)
    if isinstance(form, Response):
        return form
    refused = _refused(form, principal)
    if refused is not None:
        return refused
    step = form.spec.step
    if step is not None:
        chosen = request.query_params.get(step, "")
        step_field = next(f for f in form.fields if f.name == step)
        offered = step_field.choices(form.c, form.language) if step_field.choices else []
        if chosen not in {value for value, _ in offered}:
            return form.render(choosing=True)
    form.values = current_values(form.spec, form.c, dict(request.query_params))
    for f in form.fields:
        asked = request.query_params.get(f.name)
        if asked is not None and len(asked) <= 200:
            form.values[f.name] = asked  # a link may choose the milestone, say
        elif f.kind == "date" and f.required and f.name not in form.values:
            form.values[f.name] = _today()
    return form.render()


def submit(request: Request, code: str, slug: str, typed: dict[str, str]) -> Response:
    services: Services = request.app.state.services
    form = _open(request, services, code, slug)
    if isinstance(form, Response):
        return form
    _ = form.gettext
    spec = form.spec
    form.values = {f.name: typed.get(f.name, "") for f in form.fields}
    form.key = typed.get("idempotency_key", "")
    form.version = typed.get("version", "")
    if not _KEY.fullmatch(form.key):
        form.key = _new_key()
    principal = session_holder(request, services)
    if principal is None:
        form.general.append(
            _(
                "Your sign-in has ended. Sign in again in another tab, then submit this "
                "form again: what you typed is kept here."
            )
        )
        return form.render(401)
    if not request.app.state.csrf.valid(request, typed.get("csrf_token", "")):
        form.general.append(
            _("This form expired or did not come from this site; check it and submit it again.")
        )
        return form.render(403)
    refused = _refused(form, principal)
    if refused is not None:
        return refused
    parsed = _parse(form)
    if parsed is None:
        return form.render(422)
    command, payload, path = parsed
    expected = int(form.version) if form.version.isdigit() and len(form.version) < 12 else None
    api_path = spec.path(form.commitment.code, path)
    try:
        written = services.unit_of_work.run(
            Write(
                principal,
                command,
                ref=form.commitment.code,
                expected_version=expected,
                idempotency=IdempotencyKey(form.key, fingerprint(spec.method, api_path, payload)),
            )
        )
    except VersionMismatch as error:
        form.changes = _changes_since(services, form, expected or 0)
        form.version = str(error.actual)
        form.general.append(
            _(
                "This commitment was changed since you opened this form (version %(seen)s, "
                "now %(now)s): see what changed below. Your input is kept; submit again to "
                "record it as it is."
            )
            % {"seen": expected, "now": error.actual}
        )
        return form.render(409)
    except KeyReused:
        # The first submit changed the commitment: this one is made against that state.
        form.key = _new_key()
        form.version = str(services.tracker.get(form.commitment.code).version)
        form.general.append(
            _(
                "This form was already submitted with other values, and those were "
                "recorded. Submit again to record these values as well."
            )
        )
        return form.render(409)
    except DomainError as error:
        field, message = explain(error, spec, form.language, form.fields)
        if field:
            form.errors[field] = message
        else:
            form.general.append(message)
        return form.render(status_of(error))
    saved = spec.slug
    if spec.slug == "status":
        aggregate: Any = (
            written.change.aggregate
            if written.change is not None
            else services.tracker.version_of(written.aggregate_id, written.version)
        )
        pending = aggregate.pending_closure
        if pending is not None and pending.version == aggregate.version:
            saved = PROPOSED
    return RedirectResponse(f"/c/{form.commitment.code}?saved={saved}#actions", status_code=303)


def _changes_since(services: Services, form: _Form, version: int) -> list[dict[str, Any]]:
    """The commitment's events after `version`, as the timeline shows them."""
    names = item_names(dict(form.c))
    return [
        e
        | {
            "label": label(e["type"], form.language),
            "summary": summary(e["type"], e["data"], names, form.language),
        }
        for e in commitment_history(services.database, services.tracker, form.commitment.code)
        if e["version"] > version
    ]


# ---- from what was typed to the command ---------------------------------------------------


def _parse(form: _Form) -> tuple[CommitmentCommand, Any, dict[str, str]] | None:
    """The command, the JSON body the API would have been sent, and the path's ids; None
    (with `form.errors` filled) when something typed is not valid."""
    _ = form.gettext
    spec = form.spec
    data: dict[str, Any] = {}
    path: dict[str, str] = {}
    for f in form.fields:
        raw = form.values[f.name].replace("\r\n", "\n")
        text = raw.strip()
        if f.name == spec.path_field:
            if text:
                path[f.name] = text
            else:
                form.errors[f.name] = _(REQUIRED)
            continue
        if not text:
            if f.required:
                form.errors[f.name] = _(REQUIRED)
            continue
        if f.kind == "checkbox":
            data[f.name] = True  # ticked (left empty, the command's default: false)
            continue
        if f.kind == "int":
            try:
                number = int(text)
            except ValueError:
                form.errors[f.name] = _("Enter a whole number.")
                continue
            if (f.minimum is not None and number < f.minimum) or (
                f.maximum is not None and number > f.maximum
            ):
                form.errors[f.name] = _("Enter a whole number from %(min)s to %(max)s.") % {
                    "min": f.minimum,
                    "max": f.maximum,
                }
                continue
            data[f.name] = number
        else:
            data[f.name] = raw if f.kind == "textarea" else text
    if spec.slug in WRITTEN_IN_PAGE_LANGUAGE:
        data["language"] = form.language  # what the official typed is in the page's language
    if spec.slug == "details":
        data = _revision(form, data)
    elif spec.slug == "translations":
        data = _translation(form, data, path.get("language", ""))
    if form.errors:
        return None
    model = body_model(spec.command)
    try:
        body: BaseModel = model.model_validate(data)
        command = to_command(spec.command, body, **path)
    except ValidationError as error:
        for problem in error.errors():
            # A translation's milestone titles are at ("milestones", "m1"): its field.
            name = ".".join(str(part) for part in problem["loc"][:2])
            if not any(f.name == name for f in form.fields):
                name = str(problem["loc"][0]) if problem["loc"] else ""
            field = next((f for f in form.fields if f.name == name), None)
            message = _invalid(problem, field, _)
            if field is not None:
                form.errors.setdefault(name, message)
            else:
                form.general.append(message)
        return None
    return command, body.model_dump(mode="json", exclude_unset=True), path


def _revision(form: _Form, data: dict[str, Any]) -> dict[str, Any]:
    """A revision sends only what differs from the commitment as the form showed it (and
    its reason)."""
    c = form.seen()
    revised: dict[str, Any] = {"reason": data.get("reason")} if "reason" in data else {}
    for name in ("title", "description"):
        if name in data and data[name].strip() != (c[name] or ""):
            revised[name] = data[name]
    if not form.values["description"].strip() and c["description"]:
        revised["description"] = ""
    if "title" in revised or "description" in revised:
        revised["language"] = data["language"]  # the new text's language: the page's
    target = data.get("target_date")
    if target != c["target_date"]:
        revised["target_date"] = target  # None (left empty) clears it
    if "sectors" in data:
        sectors = [s.strip() for s in data["sectors"].split(",") if s.strip()]
        if sectors != c["sectors"]:
            revised["sectors"] = sectors
    return revised


def _translation(form: _Form, data: dict[str, Any], language: str) -> dict[str, Any]:
    """A translation sends only the texts typed that differ from that language's current
    translation, as the form showed it: a field left empty (or as it was) leaves its
    translation as it is."""
    current = current_values(form.spec, form.seen(), {"language": language})
    body: dict[str, Any] = {}
    for name, text in data.items():
        text = text.strip()
        if not text or current.get(name) == text:
            continue
        kind, _, key = name.partition(".")
        if key:
            body.setdefault(kind, {})[key] = text
        else:
            body[name] = text
    return body


def _invalid(problem: Any, field: Field | None, _: Callable[[str], str]) -> str:
    kind = problem["type"]
    context = problem.get("ctx") or {}
    if kind == "missing":
        return _(REQUIRED)
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        if field is not None and field.minimum is not None:
            return _("Enter a whole number from %(min)s to %(max)s.") % {
                "min": field.minimum,
                "max": field.maximum,
            }
        return str(problem["msg"])
    if kind == "string_too_long":
        return _("Use at most %(n)s characters.") % {"n": context.get("max_length")}
    if kind == "enum":
        return _("Choose one of the options.")
    if kind.startswith("date"):
        return _("Enter a date (year-month-day).")
    if kind.startswith("decimal") or kind == "finite_number":
        return _("Enter a number, such as 12.5.")
    return str(problem["msg"])


def _endpoints(slug: str) -> tuple[Callable[..., Response], Callable[..., Any]]:
    def get_form(request: Request, code: str) -> Response:
        return show(request, code, slug)

    async def post_form(request: Request, code: str) -> Response:
        received = await request.form()
        typed = {k: v for k, v in received.items() if isinstance(v, str)}
        response: Response = await run_in_threadpool(submit, request, code, slug, typed)
        return response

    return get_form, post_form


for _spec in FORMS:
    _get, _post = _endpoints(_spec.slug)
    _path = f"/c/{{code}}/{_spec.slug}"
    router.add_api_route(_path, _get, methods=["GET"], response_class=HTMLResponse)
    router.add_api_route(_path, _post, methods=["POST"], response_class=HTMLResponse)
