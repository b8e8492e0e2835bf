"""The public report form (举报): anyone may send it, so it is bounded (the request size, the photos' number and
size) and carries a honeypot field that people never see and robots fill in.
"""

from __future__ import annotations

from typing import ClassVar

from outfalls.public.reports import ReportInput, ReportPhoto
from web.forms.base import Form

HONEYPOT = "website"


class ReportForm(Form[ReportInput]):
    """The report form on /public/report and on an outfall's public page."""

    form_id: ClassVar[str] = "report-form"

    @property
    def is_spam(self) -> bool:
        """Whether the honeypot field was filled in."""
        return bool((self.data.get(HONEYPOT) or "").strip())

    def read(self) -> ReportInput:
        """The report as sent."""
        photos = tuple(ReportPhoto(f.filename or "photo", f.read()) for f in self.uploads("photos")[:8])
        lon, lat = self.number("lon"), self.number("lat")
        source = self.text("location_source") or "map"
        return ReportInput(description=self.text("description") or "", lon=lon, lat=lat, location_source=source,
                           contact=self.text("contact"), outfall_ref=self.text("ref"), photos=photos)  # fmt: skip

    def field_of(self, name: str) -> str:
        """Position mistakes belong to the position fields."""
        return {"lon": "location", "lat": "location"}.get(name, name)
