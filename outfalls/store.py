"""The content-addressed file store: photos and documents live under ``data_dir/store/ab/cd/<sha256>``,
written once (same bytes, same file), with their metadata in the ``attachments`` table.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.orm import Session

from outfalls.errors import InvalidInput, NotFound
from outfalls.models import Attachment, Observation
from outfalls.scope import Scope, require_visible

CHUNK = 1 << 20
THUMB_SIZE = 320  # pixels on the longer side: a photo strip on the case page


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file in the store."""

    sha256: str
    size_bytes: int
    path: Path


class FileStore:
    """Files addressed by their SHA-256, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_of(self, sha256: str) -> Path:
        """Where the file with this digest lives (whether or not it exists)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise InvalidInput(f"not a SHA-256 digest: {sha256!r}", field="sha256")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: IO[bytes]) -> StoredFile:
        """Store the bytes of ``stream``; storing the same bytes again reuses the existing file."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                while chunk := stream.read(CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
                    tmp.write(chunk)
                tmp.flush()
                os.fsync(tmp.fileno())
            target = self.path_of(digest.hexdigest())
            if target.exists():
                os.unlink(tmp_name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, target)  # atomic: a reader never sees half a file
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return StoredFile(digest.hexdigest(), size, target)

    def thumbnail(self, sha256: str, size: int = THUMB_SIZE) -> Path:
        """A JPEG of at most ``size`` pixels on its longer side, upright (EXIF orientation applied), made once
        and kept under ``thumbs/<size>/``; the original is never changed.

        Raises:
            NotFound: no file with this digest.
            InvalidInput: the file is not an image Pillow can read.
        """
        target = self.root / "thumbs" / str(size) / f"{sha256}.jpg"
        if target.exists():
            return target
        with self.open(sha256) as original:
            try:
                with Image.open(original) as image:
                    image.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster for big photos
                    upright = ImageOps.exif_transpose(image)
                    upright.thumbnail((size, size))
                    rgb = upright.convert("RGB")
            except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as err:
                raise InvalidInput("the file is not an image that can be previewed", field="file") from err
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".thumb-")
        try:
            with os.fdopen(fd, "wb") as tmp:
                rgb.save(tmp, "JPEG", quality=82, optimize=True)
            os.replace(tmp_name, target)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise
        return target

    def open(self, sha256: str) -> BinaryIO:
        """Open a stored file for reading.

        Raises:
            NotFound: no file with this digest.
        """
        path = self.path_of(sha256)
        if not path.exists():
            raise NotFound("the file is not in the store", entity="file", id=sha256)
        return path.open("rb")


def attach_file(
    session: Session,
    store: FileStore,
    stream: IO[bytes],
    *,
    name: str,
    kind: str,
    actor: str,
    scope: Scope,
    outfall_id: int | None = None,
    observation_id: int | None = None,
    event_id: int | None = None,
    media_type: str | None = None,
    meta: dict[str, object] | None = None,
) -> Attachment:
    """Store a file and record it as an attachment of an outfall and/or an observation.

    Raises:
        InvalidInput: no owner given, or an empty file.
        NotFound: the outfall (in ``scope``) or observation does not exist.
    """
    if outfall_id is None and observation_id is None:
        raise InvalidInput("an attachment needs an outfall or an observation", field="owner")
    if outfall_id is not None:
        require_visible(session, outfall_id, scope)
    if observation_id is not None and session.get(Observation, observation_id) is None:
        raise NotFound("observation does not exist", entity="observation", id=observation_id)
    stored = store.put(stream)
    if stored.size_bytes == 0:
        raise InvalidInput(f"{name} is empty", field="file", value=name)
    attachment = Attachment(
        sha256=stored.sha256,
        size_bytes=stored.size_bytes,
        media_type=media_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        original_name=name,
        kind=kind,
        outfall_id=outfall_id,
        observation_id=observation_id,
        event_id=event_id,
        created_by=actor,
        meta=dict(meta or {}),
    )
    session.add(attachment)
    session.flush()
    return attachment


def get_attachment(session: Session, attachment_id: int, *, scope: Scope) -> Attachment:
    """An attachment whose outfall lies in ``scope`` (attachments of observations only: national scope).

    Raises:
        NotFound: no such attachment, or one outside the scope (the same message).
    """
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        raise NotFound("the file does not exist", entity="attachment", id=attachment_id)
    if attachment.outfall_id is not None:
        try:
            require_visible(session, attachment.outfall_id, scope)
        except NotFound as err:
            raise NotFound("the file does not exist", entity="attachment", id=attachment_id) from err
    elif not scope.is_national:
        raise NotFound("the file does not exist", entity="attachment", id=attachment_id)
    return attachment


def list_attachments(session: Session, outfall_id: int, *, scope: Scope) -> list[Attachment]:
    """The files of an outfall, oldest first.

    Raises:
        NotFound: no such outfall (in ``scope``).
    """
    require_visible(session, outfall_id, scope)
    return list(session.scalars(select(Attachment).where(Attachment.outfall_id == outfall_id).order_by(Attachment.id)))
