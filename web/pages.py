"""Pages that more than one view renders: an outfall's case page and the outfall list, which the catalogue shows
and the case officers' forms show again when they refuse what was sent (``refused_forms_stay``): the mistakes
next to their fields, what the user typed still in the inputs, status 422.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import wraps
from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from outfalls import clock
from outfalls.cases import assignment, dossier, sampling
from outfalls.catalogue import lifecycle, queries
from outfalls.errors import InvalidInput
from outfalls.types import Role
from web.auth import current_identity, current_scope
from web.db import db, settings
from web.forms import Form, PostedForm, parse_filter, parse_paging
from web.i18n import current_locale
from web.maps import script_json

PARTY_ROWS = 3  # party rows the tracing form shows


def case_page(outfall_id: int, *, as_of: date | None = None, posted: PostedForm | None = None) -> str:
    """An outfall's case page; ``posted`` is a refused form to show again."""
    scope, me = current_scope(), current_identity()
    case = dossier.case_file(db(), outfall_id, scope=scope, acceptor=me.login)
    is_officer = Role.CASE_OFFICER in me.roles
    config = {
        "point": [case.detail.row.lon, case.detail.row.lat],
        "status": case.detail.row.status,
        "urls": {"layer": url_for("api.layer", name="__name__")},
        "text": {"rivers": _("Rivers"), "counties": _("Counties"), "zoomIn": _("Zoom in"), "zoomOut": _("Zoom out")},
    }
    return render_template(
        "catalogue/detail.html",
        case=case,
        d=case.detail,
        monitoring=case.monitoring,
        traces=case.traces,
        remedies=case.remedies,
        gaps=case.gaps,
        checklist=case.checklist,
        files_by_event=case.files_by_event,
        files_by_id=case.files_by_id,
        parameters=sampling.parameters(db()),
        standards=sampling.standards(db()),
        party_rows=range(PARTY_ROWS),
        as_of=as_of,
        state_then=lifecycle.state_as_of(db(), outfall_id, as_of, scope=scope) if as_of else None,
        officers=assignment.officers_for(db(), scope) if is_officer else [],
        locale=current_locale(),
        map_config=script_json(config),
        posted=posted or PostedForm(),
    )


def list_page(args: MultiDict[str, str], *, posted: PostedForm | None = None) -> str:
    """The outfall list for the filters and page in ``args``; ``posted`` is a refused bulk form to show again."""
    me = current_identity()
    f = parse_filter(args, me=me.login)
    page, size = parse_paging(args, settings())
    result = queries.list_outfalls(db(), f, scope=current_scope(), page=page, page_size=size)
    can_bulk = Role.CASE_OFFICER in me.roles
    return render_template(
        "catalogue/list.html",
        filters=f,
        facets=queries.facets(db(), scope=current_scope()),
        result=result,
        args={k: v for k, v in args.items() if k != "page" and v},
        locale=current_locale(),
        can_bulk=can_bulk,
        officers=assignment.officers_for(db(), current_scope()) if can_bulk else [],
        today=clock.today(),
        posted=posted or PostedForm(),
    )


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def refused_forms_stay(
    make_form: Callable[[], Form[Any]], page: Callable[..., str]
) -> Callable[[Callable[..., ResponseReturnValue]], Callable[..., ResponseReturnValue]]:
    """Give the view the form ``make_form`` reads from the request; when the form or the domain refuses what was
    sent (``InvalidInput``), nothing is kept and ``page(posted, **view_args)`` shows it again, with status 422.

    A client asking for JSON gets the usual ``{error, message, details}`` instead.
    """

    def decorate(view: Callable[..., ResponseReturnValue]) -> Callable[..., ResponseReturnValue]:
        @wraps(view)
        def run(**view_args: Any) -> ResponseReturnValue:
            form = make_form()
            try:
                return view(form=form, **view_args)
            except InvalidInput as err:
                if _wants_json():
                    raise
                db().rollback()  # files or rows written before the refusal are not kept, nor shown
                return page(form.refused(err), **view_args), 422

        return run

    return decorate


def case_page_again(posted: PostedForm, *, outfall_id: int) -> str:
    """The case page with a refused form of it."""
    return case_page(outfall_id, posted=posted)


def bulk_page_again(posted: PostedForm) -> str:
    """A refused bulk form on the page it came from: one outfall's page, or the list with its filters and page."""
    ids = posted.values("id")
    back = posted.value("next")
    if back and len(ids) == 1 and ids[0].isdigit() and back == url_for("catalogue.outfall_page", outfall_id=ids[0]):
        return case_page(int(ids[0]), posted=posted)
    filters = MultiDict([(k[2:], v) for k, v in posted.data.items(multi=True) if k.startswith("f-")])
    try:
        return list_page(filters, posted=posted)
    except InvalidInput:  # filters tampered with: the list as it first opens
        return list_page(MultiDict(), posted=posted)
