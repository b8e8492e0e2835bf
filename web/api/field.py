"""The phone app's API (``/api/field/...``): the bundle a crew takes offline, its records sent one by one with
their photos (each kept once under the id the phone made), and the answer kept for a record.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from imagery import field as imagery_field
from outfalls.errors import InvalidInput, NotFound
from outfalls.field import bundle, sync
from outfalls.reference import reference_lines
from outfalls.store import FileStore
from outfalls.types import Role
from web.auth import current_identity, current_scope, expected_csrf, requires
from web.db import db, settings
from web.forms.bodies import json_object

bp = Blueprint("field_api", __name__, url_prefix="/api/field")

CREW_ROLES = (Role.CREW, Role.ADMIN)


def _store() -> FileStore:
    return FileStore(settings().storage.store_dir)


@bp.get("/bundle")
@requires(*CREW_ROLES)
def offline_bundle() -> ResponseReturnValue:
    """Everything the app needs offline: the crew's open candidates (with clips), the known outfalls and the
    reference lines of the crew's area, the reconciliation radius and a fresh CSRF token.
    """
    identity = current_identity()
    s = settings()
    scope = current_scope()
    response = jsonify(
        user={"login": identity.login, "name": identity.display_name or identity.login},
        radius_m=s.reconcile.radius_m,
        csrf_token=expected_csrf(),
        tasks=imagery_field.crew_tasks(db(), crew=identity.login, scope=scope, settings=s),
        outfalls=bundle.known_outfalls(db(), scope=scope),
        types=bundle.outfall_types(db()),
        reference=reference_lines(db(), scope=scope, region=s.region.bbox),
    )
    response.cache_control.no_store = True
    return response


@bp.post("/records")
@requires(*CREW_ROLES)
def receive_record() -> ResponseReturnValue:
    """One phone record (JSON); 201 with its answer when new, 200 with the same answer when received before."""
    result = imagery_field.sync_record(db(), _store(), json_object(request), settings=settings(),
                                       actor=current_identity().login, scope=current_scope())  # fmt: skip
    db().commit()
    return jsonify(result.as_dict()), 200 if result.already_received else 201


@bp.get("/records/<client_id>")
@requires(*CREW_ROLES)
def record_answer(client_id: str) -> ResponseReturnValue:
    """The answer kept for a record and the photo slots received for it (a resumed sync sends only the rest)."""
    me = current_identity().login
    answer = sync.kept_answer(db(), client_id, actor=me)
    photos = sync.received_photos(db(), client_id, actor=me)
    if answer is None and not photos:
        raise NotFound("no record with this id was received", entity="field_record", id=client_id)
    return jsonify(client_id=client_id, result=answer, photos=photos)


@bp.put("/records/<client_id>/photos/<slot>")
@requires(*CREW_ROLES)
def receive_photo(client_id: str, slot: str) -> ResponseReturnValue:
    """One photo of a record, the image bytes as the body (``?name=`` the file name); sent again, nothing changes."""
    data = request.get_data(cache=False)
    name = (request.args.get("name") or f"{client_id}-{slot}.jpg").strip()
    if not name or len(name) > 200:
        raise InvalidInput("give the photo's file name (at most 200 characters)", field="name")
    photo = sync.receive_photo(db(), _store(), client_id, slot, data, name, actor=current_identity().login)
    db().commit()
    return jsonify(photo.as_dict()), 200 if photo.already_received else 201
