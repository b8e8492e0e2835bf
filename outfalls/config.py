"""Settings: ``config.toml`` defaults, then the file named by ``OUTFALLS_CONFIG``, then ``OUTFALLS_*``
environment variables, then explicit overrides. An unknown key or a value of the wrong type fails at
start with the key's dotted name, because a typo is cheapest found at start.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from outfalls import clock
from outfalls.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULTS_FILE = PROJECT_DIR / "config.toml"

# Environment variables with a name of their own; any other OUTFALLS_<SECTION>_<KEY> maps to section.key.
ENV_ALIASES = {"OUTFALLS_DATA_DIR": "storage.data_dir", "OUTFALLS_DATABASE_URL": "database.url",
               "OUTFALLS_DATABASE_REPLICA_URLS": "database.replica_urls"}  # fmt: skip
ENV_IGNORED = {"OUTFALLS_CONFIG"}


@dataclass(frozen=True, slots=True)
class ProgrammeSettings:
    """The programme: its calendar days are those of ``timezone`` (an IANA name)."""

    timezone: str


@dataclass(frozen=True, slots=True)
class DatabaseSettings:
    """Where the catalogue lives."""

    url: str
    name: str
    start_timeout_s: int
    replica_urls: tuple[str, ...] = ()  # streaming replicas (hot standbys) of the primary, for read-only work
    replica_max_lag_s: float = 30.0  # a replica further behind is skipped until it catches up

    @property
    def is_embedded(self) -> bool:
        """True when no external server is configured, so the embedded cluster is used."""
        return not self.url


@dataclass(frozen=True, slots=True)
class StorageSettings:
    """Folders for the cluster and the file stores."""

    data_dir: Path

    @property
    def pg_dir(self) -> Path:
        """The embedded cluster's folder."""
        return self.data_dir / "pg"

    @property
    def store_dir(self) -> Path:
        """The content-addressed attachment store."""
        return self.data_dir / "store"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """The web server."""

    host: str
    port: int
    default_locale: str
    # The address users and GIS clients reach the application at (its root), e.g. "https://outfalls.example.gov.cn/";
    # links the server writes out (the OGC API's) start with it. Empty: from the request, for trusted hosts only.
    public_url: str = ""
    trusted_hosts: tuple[str, ...] = ()  # the host names requests may carry when ``public_url`` is empty
    proxies: int = 0  # reverse proxies in front that append to X-Forwarded-For (0: the headers are not believed)


@dataclass(frozen=True, slots=True)
class MapSettings:
    """The web map."""

    extent: tuple[float, float, float, float]
    basemap_url: str
    basemap_attribution: str
    max_features: int


@dataclass(frozen=True, slots=True)
class ListSettings:
    """Paged lists."""

    page_size: int
    max_page_size: int


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """Reconciliation of observations into outfalls."""

    radius_m: float  # an observation this close (on the ellipsoid) to one outfall is linked to it
    review_radius_m: float  # a reviewer links a row farther than this only with an explicit override
    same_batch_m: float = 5.0  # two rows of one upload this close, of compatible types, are queued as one cluster


@dataclass(frozen=True, slots=True)
class RegionSettings:
    """The deployment's territory: survey rows outside ``bbox`` (west, south, east, north in degrees) are refused."""

    bbox: tuple[float, float, float, float]
    outlier_km: float  # a row this far from the rest of its batch is refused as a likely coordinate mistake


@dataclass(frozen=True, slots=True)
class SurveySettings:
    """Foot-survey intake: photos matched to records, walked tracks counted along rivers."""

    photo_max_distance_m: float
    photo_max_minutes: float
    corridor_m: float  # a track point this close to a river line counts as walking its bank
    background_rows: int  # uploads with more rows than this run as a background job


@dataclass(frozen=True, slots=True)
class UploadSettings:
    """Bounds on one survey upload, so no file can exhaust the server; the defaults are those of config.toml."""

    max_bytes: int = 200 * 1024 * 1024  # the request body and the file
    max_unpacked_bytes: int = 1024 * 1024 * 1024  # the files of a ZIP (XLSX, KMZ) once unpacked, together
    max_members: int = 2000  # files in one ZIP
    max_rows: int = 1_000_000
    max_columns: int = 500
    max_cell_chars: int = 10_000


@dataclass(frozen=True, slots=True)
class ImagerySettings:
    """Drone imagery: the interpretation corridor, its cells and the tile cache."""

    landward_m: float  # corridor beyond the bank, away from the water
    waterward_m: float  # corridor between the river's centre line and its bank
    cell_m: float  # side of a square interpretation cell
    store_dir: Path  # orthophotos as Cloud-Optimized GeoTIFFs
    tile_cache_dir: Path  # rendered PNG tiles


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """Source tracing."""

    traced_requires: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DemoSettings:
    """The generated demo catalogue."""

    outfalls_yellow: int
    outfalls_handan: int
    seed: int


@dataclass(frozen=True, slots=True)
class TargetDefault:
    """A national default target: ``share`` of outfalls reach ``metric`` by ``deadline``."""

    deadline: date
    metric: str
    share: float


@dataclass(frozen=True, slots=True)
class ProgressSettings:
    """Progress against targets: the dashboard's tiles and the printed report."""

    cluster_below_zoom: int  # vector tiles below this zoom carry clusters, not single outfalls
    tile_cache_mb: int  # tiles kept in memory per process while the catalogue has not changed (0: none)
    chromium: str  # headless Chromium that prints the report to PDF
    pdf_timeout_s: int


@dataclass(frozen=True, slots=True)
class CodingSettings:
    """The local naming and coding rule (``outfalls.public.coding`` reads and checks the templates)."""

    code_template: str
    seq_digits: int
    type_digits: int
    name_template: str
    left_bank: str
    right_bank: str
    bank_max_m: float  # a river line farther than this tells no bank


# What may ever be public of an outfall; ``[public] fields`` picks among them (personal data is not among them).
PUBLIC_FIELDS = ("ref", "name", "local_code", "national_code", "type", "receiving_water", "basin", "area", "river",
                 "responsible_party", "remediation_category", "status", "status_since", "standardisation",
                 "monitoring", "photo")  # fmt: skip


@dataclass(frozen=True, slots=True)
class PublicSettings:
    """Public disclosure (sign boards, public pages) and public reports."""

    fields: tuple[str, ...]
    show_monitoring: bool
    department: str
    hotline: str
    cache_max_age_s: int
    requests_per_minute: int
    reports_per_hour: int
    max_photos: int
    max_photo_bytes: int
    photo_max_px: int
    max_description_chars: int


@dataclass(frozen=True, slots=True)
class Settings:
    """All settings, immutable."""

    programme: ProgrammeSettings
    database: DatabaseSettings
    storage: StorageSettings
    server: ServerSettings
    map: MapSettings
    list: ListSettings
    reconcile: ReconcileSettings
    region: RegionSettings
    survey: SurveySettings
    upload: UploadSettings
    imagery: ImagerySettings
    tracing: TracingSettings
    demo: DemoSettings
    targets: tuple[TargetDefault, ...]
    progress: ProgressSettings
    coding: CodingSettings
    public: PublicSettings


def load_settings(
    path: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load and validate settings.

    Args:
        path: a TOML file overriding the defaults; when None, ``env["OUTFALLS_CONFIG"]`` if set.
        env: environment variables (the CLI passes ``os.environ``); None means none.
        overrides: dotted keys (``"database.url"``) with final values, for tests and options.

    Returns:
        The merged settings. The programme's clock (``outfalls.clock``) is set to their time zone, so every
        date in this process is a day of the programme.

    Raises:
        ConfigError: an unknown key, a value of the wrong type, an unknown time zone or an unreadable file.
    """
    env = env or {}
    merged = _read_toml(DEFAULTS_FILE)
    path = path or env.get("OUTFALLS_CONFIG") or None
    if path:
        _merge(merged, _read_toml(Path(path)), prefix="")
    for name, value in env.items():
        if not name.startswith("OUTFALLS_") or name in ENV_IGNORED:
            continue
        dotted = ENV_ALIASES.get(name) or _env_key(merged, name)
        if dotted is not None:
            _set_dotted(merged, dotted, _coerce_env(merged, dotted, value))
    for dotted, value in (overrides or {}).items():
        _set_dotted(merged, dotted, value)
    settings = _build(merged)
    clock.configure(settings.programme.timezone)
    return settings


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as err:
        raise ConfigError(f"configuration file {path} does not exist", path=str(path)) from err
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"configuration file {path} is not valid TOML: {err}", path=str(path)) from err


def _merge(base: dict[str, Any], extra: Mapping[str, Any], prefix: str) -> None:
    for key, value in extra.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"unknown configuration key '{dotted}'", key=dotted)
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ConfigError(f"configuration key '{dotted}' must be a table", key=dotted)
            _merge(base[key], value, prefix=f"{dotted}.")
        else:
            _check_type(dotted, base[key], value)
            base[key] = value


def _check_type(dotted: str, default: Any, value: Any) -> None:
    if isinstance(default, bool) or isinstance(value, bool):
        ok = isinstance(value, bool) and isinstance(default, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float)
    elif isinstance(default, list) and default and isinstance(default[0], dict):
        ok = isinstance(value, list) and all(isinstance(v, dict) for v in value)
    else:
        ok = isinstance(value, type(default))
    if not ok:
        raise ConfigError(f"configuration key '{dotted}' must be {type(default).__name__}, not {value!r}", key=dotted)


def _env_key(merged: dict[str, Any], name: str) -> str | None:
    rest = name.removeprefix("OUTFALLS_").lower()
    for section, table in merged.items():
        if isinstance(table, dict) and rest.startswith(section + "_"):
            key = rest[len(section) + 1 :]
            if key in table:
                return f"{section}.{key}"
    return None


def _coerce_env(merged: dict[str, Any], dotted: str, value: str) -> Any:
    section, key = dotted.split(".")
    default = merged[section][key]
    if isinstance(default, list):  # a list from the environment is comma-separated
        return [part.strip() for part in value.split(",") if part.strip()]
    try:
        if isinstance(default, bool):
            return value.lower() in {"1", "true", "yes", "on"}
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError as err:
        raise ConfigError(f"environment value for '{dotted}' is not a number: {value!r}", key=dotted) from err
    return value


def _set_dotted(merged: dict[str, Any], dotted: str, value: Any) -> None:
    section, _, key = dotted.partition(".")
    if section not in merged or not isinstance(merged[section], dict) or key not in merged[section]:
        raise ConfigError(f"unknown configuration key '{dotted}'", key=dotted)
    _check_type(dotted, merged[section][key], value)
    merged[section][key] = value


TRACING_ITEMS = ("main_party", "source", "method_evidence")
# What a target can count: the stages of the lifecycle an outfall reaches, and sampling.
PROGRESS_METRICS = ("surveyed", "sampled", "traced", "remediating", "remediated", "closed")


def _rule(items: list[Any]) -> tuple[str, ...]:
    for item in items:
        if item not in TRACING_ITEMS:
            raise ConfigError(
                f"configuration key 'tracing.traced_requires' has {item!r}; use any of {', '.join(TRACING_ITEMS)}",
                key="tracing.traced_requires",
            )
    return tuple(items)


def _public_url(value: str) -> str:
    """An http(s) address with a host and no query (``""`` for none), ending with one slash."""
    if not value.strip():
        return ""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            f"configuration key 'server.public_url' must be an http(s) address like https://outfalls.example.gov.cn/, "
            f"not {value!r}", key="server.public_url",
        )  # fmt: skip
    return parts._replace(path=parts.path.rstrip("/") + "/").geturl()


def _host_names(value: list[Any]) -> tuple[str, ...]:
    if not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError("configuration key 'server.trusted_hosts' must be a list of host names",
                          key="server.trusted_hosts")  # fmt: skip
    return tuple(v.strip().lower() for v in value)


def _database(m: dict[str, Any]) -> DatabaseSettings:
    urls = m["replica_urls"]
    for url in urls:
        if not isinstance(url, str) or not url.startswith("postgresql"):
            raise ConfigError(
                "configuration key 'database.replica_urls' must list PostgreSQL URLs like "
                f"postgresql+psycopg://user@host/outfalls, not {url!r}", key="database.replica_urls",
            )  # fmt: skip
    lag = float(m["replica_max_lag_s"])
    if not math.isfinite(lag) or lag <= 0:
        raise ConfigError(f"configuration key 'database.replica_max_lag_s' must be a number of seconds above 0, "
                          f"not {m['replica_max_lag_s']!r}", key="database.replica_max_lag_s")  # fmt: skip
    return DatabaseSettings(**m | {"replica_urls": tuple(u.strip() for u in urls), "replica_max_lag_s": lag})


def _bbox(value: Any, key: str) -> tuple[float, float, float, float]:
    """Four numbers west, south, east, north in degrees, in order."""
    if not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, int | float) for v in value):
        raise ConfigError(f"configuration key '{key}' must be four numbers [west, south, east, north]", key=key)
    west, south, east, north = (float(v) for v in value)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ConfigError(f"configuration key '{key}' must be [west, south, east, north] in degrees", key=key)
    return west, south, east, north


def _imagery(m: dict[str, Any], data_dir: Path) -> ImagerySettings:
    for key in ("landward_m", "waterward_m", "cell_m"):
        if float(m[key]) < 0 or (key == "cell_m" and float(m[key]) < 10):
            raise ConfigError(f"configuration key 'imagery.{key}' is out of range: {m[key]!r}", key=f"imagery.{key}")
    cache = Path(m["tile_cache_dir"])
    return ImagerySettings(
        landward_m=float(m["landward_m"]),
        waterward_m=float(m["waterward_m"]),
        cell_m=float(m["cell_m"]),
        store_dir=data_dir / "imagery" / "cog",
        tile_cache_dir=cache if cache.is_absolute() else data_dir / cache,
    )


def _reconcile(m: dict[str, Any]) -> ReconcileSettings:
    for key, value in m.items():
        if not math.isfinite(float(value)) or float(value) < 0:
            raise ConfigError(f"configuration key 'reconcile.{key}' must be a distance in metres (0 or more), "
                              f"not {value!r}", key=f"reconcile.{key}")  # fmt: skip
    return ReconcileSettings(**{k: float(v) for k, v in m.items()})


def _upload(m: dict[str, Any]) -> UploadSettings:
    for key, value in m.items():
        if value < 1:
            raise ConfigError(f"configuration key 'upload.{key}' must be at least 1, not {value!r}",
                              key=f"upload.{key}")  # fmt: skip
    return UploadSettings(**m)


def _coding(m: dict[str, Any]) -> CodingSettings:
    from outfalls.public.coding import CodingRule  # checks the templates: an unknown part fails at start

    coding = CodingSettings(**m | {"bank_max_m": float(m["bank_max_m"])})
    CodingRule.of(coding)
    return coding


def _public(m: dict[str, Any]) -> PublicSettings:
    unknown = [f for f in m["fields"] if f not in PUBLIC_FIELDS]
    if unknown or "ref" not in m["fields"]:
        raise ConfigError(
            f"configuration key 'public.fields' must list 'ref' and only these: {', '.join(PUBLIC_FIELDS)}"
            + (f" (not {unknown[0]!r})" if unknown else ""), key="public.fields",
        )  # fmt: skip
    for key in ("cache_max_age_s", "requests_per_minute", "reports_per_hour", "max_photos", "max_photo_bytes",
                "photo_max_px", "max_description_chars"):  # fmt: skip
        if m[key] < (0 if key in ("cache_max_age_s", "max_photos") else 1):
            raise ConfigError(f"configuration key 'public.{key}' is out of range: {m[key]!r}", key=f"public.{key}")
    return PublicSettings(**m | {"fields": tuple(m["fields"])})


def _progress(m: dict[str, Any]) -> ProgressSettings:
    mb = m["tile_cache_mb"]
    if isinstance(mb, bool) or not isinstance(mb, int) or not 0 <= mb <= 65536:
        raise ConfigError("configuration key 'progress.tile_cache_mb' must be a whole number of megabytes from 0 "
                          f"(no cache) to 65536, not {mb!r}", key="progress.tile_cache_mb")  # fmt: skip
    return ProgressSettings(**m)


def _build(m: dict[str, Any]) -> Settings:
    data_dir = Path(m["storage"]["data_dir"])
    if not data_dir.is_absolute():
        data_dir = PROJECT_DIR / data_dir
    extent = m["map"]["extent"]
    if len(extent) != 4 or not all(isinstance(v, int | float) for v in extent):
        raise ConfigError("configuration key 'map.extent' must be four numbers", key="map.extent")
    locale = m["server"]["default_locale"]
    if locale not in {"zh", "en"}:
        raise ConfigError("configuration key 'server.default_locale' must be 'zh' or 'en'", key="server.default_locale")
    proxies = m["server"]["proxies"]
    if isinstance(proxies, bool) or not isinstance(proxies, int) or not 0 <= proxies <= 5:
        raise ConfigError("configuration key 'server.proxies' must be a whole number from 0 to 5 (the reverse proxies "
                          "in front of outfalls)", key="server.proxies")  # fmt: skip
    server = m["server"] | {"public_url": _public_url(m["server"]["public_url"]),
                            "trusted_hosts": _host_names(m["server"]["trusted_hosts"])}  # fmt: skip
    targets = []
    for i, t in enumerate(m["targets"]):
        try:
            target = TargetDefault(date.fromisoformat(str(t["deadline"])), str(t["metric"]), float(t["share"]))
            if target.metric not in PROGRESS_METRICS:
                raise ValueError(f"metric {target.metric!r} is not one of {', '.join(PROGRESS_METRICS)}")
            if not 0 <= target.share <= 1:
                raise ValueError(f"share {target.share} is not between 0 and 1")
            targets.append(target)
        except (KeyError, ValueError) as err:
            raise ConfigError(f"configuration key 'targets[{i}]' is invalid: {err}", key=f"targets[{i}]") from err
    clock.zone_named(m["programme"]["timezone"])  # fails at start on an unknown zone
    return Settings(
        programme=ProgrammeSettings(timezone=m["programme"]["timezone"]),
        database=_database(m["database"]),
        storage=StorageSettings(data_dir=data_dir.resolve()),
        server=ServerSettings(**server),
        map=MapSettings(
            extent=(float(extent[0]), float(extent[1]), float(extent[2]), float(extent[3])),
            basemap_url=m["map"]["basemap_url"],
            basemap_attribution=m["map"]["basemap_attribution"],
            max_features=m["map"]["max_features"],
        ),
        list=ListSettings(**m["list"]),
        reconcile=_reconcile(m["reconcile"]),
        region=RegionSettings(
            bbox=_bbox(m["region"]["bbox"], "region.bbox"), outlier_km=float(m["region"]["outlier_km"])
        ),
        survey=SurveySettings(
            photo_max_distance_m=float(m["survey"]["photo_max_distance_m"]),
            photo_max_minutes=float(m["survey"]["photo_max_minutes"]),
            corridor_m=float(m["survey"]["corridor_m"]),
            background_rows=int(m["survey"]["background_rows"]),
        ),
        upload=_upload(m["upload"]),
        imagery=_imagery(m["imagery"], data_dir.resolve()),
        tracing=TracingSettings(traced_requires=_rule(m["tracing"]["traced_requires"])),
        demo=DemoSettings(**m["demo"]),
        targets=tuple(targets),
        progress=_progress(m["progress"]),
        coding=_coding(m["coding"]),
        public=_public(m["public"]),
    )
