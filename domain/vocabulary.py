"""The domain vocabulary (docs/api.md), as types, and the checks on free values."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from annotated_types import MaxLen

from domain.errors import InvalidValue


class Pillar(Enum):
    PROSPERITY = "prosperity"
    MOBILITY_INCLUSIVITY_WELLBEING = "mobility_inclusivity_wellbeing"
    SECURITY = "security"
    ENVIRONMENT_SUSTAINABILITY = "environment_sustainability"
    GOVERNANCE = "governance"


class Status(Enum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    STALLED = "stalled"
    COMPLETED = "completed"
    SUSPENDED = "suspended"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.CANCELLED, Status.SUPERSEDED})

# The assessed lifecycle. A terminal status is left only by reopening (-> in_progress).
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NOT_STARTED: frozenset(
        {Status.IN_PROGRESS, Status.SUSPENDED, Status.CANCELLED, Status.SUPERSEDED}
    ),
    Status.IN_PROGRESS: frozenset(
        {Status.STALLED, Status.COMPLETED, Status.SUSPENDED, Status.CANCELLED, Status.SUPERSEDED}
    ),
    Status.STALLED: frozenset(
        {Status.IN_PROGRESS, Status.SUSPENDED, Status.CANCELLED, Status.SUPERSEDED}
    ),
    Status.SUSPENDED: frozenset({Status.IN_PROGRESS, Status.CANCELLED, Status.SUPERSEDED}),
    Status.COMPLETED: frozenset({Status.IN_PROGRESS}),
    Status.CANCELLED: frozenset({Status.IN_PROGRESS}),
    Status.SUPERSEDED: frozenset({Status.IN_PROGRESS}),
}


class Health(Enum):
    """Five-point delivery confidence, best first."""

    GREEN = "green"
    AMBER_GREEN = "amber_green"
    AMBER = "amber"
    AMBER_RED = "amber_red"
    RED = "red"


JOINT = "joint"

# Codes: upper-case segments joined by '-', e.g. CMAP-PROS-RAIL. Stable for the long run
# because a commitment's id is derived from its code.
CODE_PATTERN = re.compile(r"^[A-Z][A-Z0-9]{1,9}(-[A-Z0-9]{2,12}){1,4}$")
CODE_FORMAT = (
    "2 to 5 upper-case segments joined by '-', the first 2-10 characters starting "
    "with a letter, the others 2-12 letters or digits (e.g. CMAP-PROS-RAIL)"
)
SECTOR_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,39}$")

# Dates outside these bounds are typing mistakes, not plans.
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)

MAX_TITLE = 200
MAX_TEXT = 10_000
MAX_URL = 2000


E = TypeVar("E", bound=Enum)


def parse_enum(kind: type[E], value: Any, field: str) -> E:
    if isinstance(value, kind):
        return value
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(str(m.value) for m in kind)
        raise InvalidValue(f"{field} must be one of {allowed}; got {value!r}") from None


def check_code(code: str) -> str:
    if not isinstance(code, str) or not CODE_PATTERN.fullmatch(code):
        raise InvalidValue(f"code {code!r} is not valid: use {CODE_FORMAT}")
    return code


# Control characters (NUL above all: PostgreSQL text cannot hold it) are never data.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LINE_BREAK = re.compile(r"[\r\n]")


def check_text(value: str | None, field: str, *, required: bool, limit: int = MAX_TEXT) -> str:
    """Trimmed text; short fields (titles, names: limit <= MAX_TITLE) are single lines."""
    if value is not None and not isinstance(value, str):
        raise InvalidValue(f"{field} must be text")
    text = (value or "").strip()
    if _CONTROL.search(text) or (limit <= MAX_TITLE and _LINE_BREAK.search(text)):
        raise InvalidValue(f"{field} must not contain control characters")
    if required and not text:
        raise InvalidValue(f"{field} must not be empty")
    if len(text) > limit:
        raise InvalidValue(f"{field} must be at most {limit} characters")
    return text


def check_date(value: date, field: str) -> date:
    if not isinstance(value, date):
        raise InvalidValue(f"{field} must be a date")
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise InvalidValue(
            f"{field} {value.isoformat()} is outside {EARLIEST_DATE} to {LATEST_DATE}"
        )
    return value


def check_past_date(value: date, field: str, today: date) -> date:
    """An effective date of something that happened: not in the future."""
    check_date(value, field)
    if value > today:
        raise InvalidValue(
            f"{field} {value.isoformat()} is in the future (today is {today.isoformat()})"
        )
    return value


def check_sectors(sectors: Sequence[str]) -> list[str]:
    if not isinstance(sectors, list | tuple):
        raise InvalidValue("sectors must be a list of slugs")
    if not sectors:
        raise InvalidValue("sectors must name at least one sector")
    for sector in sectors:
        if not isinstance(sector, str) or not SECTOR_PATTERN.fullmatch(sector):
            raise InvalidValue(f"sector {sector!r} is not a slug (lower-case letters, digits, '_')")
    if len(set(sectors)) != len(sectors):
        raise InvalidValue("sectors must not repeat")
    return list(sectors)


def check_parties(parties: Sequence[str]) -> list[str]:
    if not isinstance(parties, list | tuple):
        raise InvalidValue("parties must be a list of ISO 3166 alpha-2 codes")
    if not parties:
        raise InvalidValue("parties must name at least one party")
    for party in parties:
        check_party(party)
    if len(set(parties)) != len(parties):
        raise InvalidValue("parties must not repeat")
    return list(parties)


def check_party(party: str) -> str:
    if not isinstance(party, str) or party not in ISO_3166_ALPHA2:
        raise InvalidValue(f"party {party!r} is not an ISO 3166 alpha-2 code such as CA")
    return party


def check_lead_party(lead_party: str, parties: Sequence[str]) -> str:
    if lead_party == JOINT:
        if len(parties) < 2:
            raise InvalidValue("lead_party 'joint' needs at least two parties")
        return lead_party
    if lead_party not in parties:
        raise InvalidValue(f"lead_party {lead_party!r} must be one of the parties or 'joint'")
    return lead_party


def check_agencies(
    agencies: Mapping[str, Sequence[str]], parties: Sequence[str]
) -> dict[str, list[str]]:
    if not isinstance(agencies, Mapping):
        raise InvalidValue("agencies must map parties to lists of names")
    result: dict[str, list[str]] = {}
    for party, names in agencies.items():
        if party not in parties:
            raise InvalidValue(f"agencies names party {party!r}, which is not among the parties")
        if not isinstance(names, list | tuple):
            raise InvalidValue(f"agencies of {party} must be a list of names")
        result[party] = [
            check_text(n, f"agency of {party}", required=True, limit=MAX_TITLE) for n in names
        ]
    return result


# Indicator values: what officials report, not arbitrary precision.
MAX_MAGNITUDE = Decimal(10) ** 15
MAX_DECIMAL_PLACES = 6


def check_decimal(value: Decimal | int | float | str, field: str) -> Decimal:
    if isinstance(value, bool):
        raise InvalidValue(f"{field} must be a number; got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise InvalidValue(f"{field} must be a number; got {value!r}") from None
    if not number.is_finite():
        raise InvalidValue(f"{field} must be a finite number")
    # copy_abs, not abs(): abs() rounds to the context and overflows on 1e999999999.
    if number.copy_abs() >= MAX_MAGNITUDE:
        raise InvalidValue(f"{field} must be smaller than 10^15 in magnitude")
    sign, digits, exponent = number.as_tuple()
    exponent = int(exponent)  # finite, so an int
    # Trailing zeros past the limit change nothing: "1.5000000" is kept as "1.500000".
    # (Done by hand: normalize() would round to the context's 28 digits.)
    while exponent < -MAX_DECIMAL_PLACES and digits[-1] == 0:
        digits, exponent = digits[:-1] or (0,), exponent + 1
    if exponent < -MAX_DECIMAL_PLACES:
        raise InvalidValue(f"{field} may have at most {MAX_DECIMAL_PLACES} decimal places")
    number = Decimal((sign, digits, exponent))
    # A plain, canonical notation ("150", not "1.5E+2").
    return number.quantize(Decimal(1)) if exponent > 0 else number


@dataclass(frozen=True)
class Source:
    """Where a commitment comes from: a public document, with a short quote."""

    title: Annotated[str, MaxLen(MAX_TITLE * 2)]
    url: Annotated[str, MaxLen(MAX_URL)] | None = None
    quote: Annotated[str, MaxLen(2000)] | None = None


@dataclass(frozen=True)
class Evidence:
    """A public document that supports a claim of progress."""

    url: Annotated[str, MaxLen(MAX_URL)]
    title: Annotated[str, MaxLen(MAX_TITLE)]
    publisher: Annotated[str, MaxLen(MAX_TITLE)] | None = None
    published_on: date | None = None


URL_PATTERN = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)  # schemes: any case


def check_url(url: str, field: str) -> str:
    """An http(s) URL with a host (the scheme and host in any case: HTTPS://EXAMPLE.ORG/x)."""
    if not isinstance(url, str) or not URL_PATTERN.fullmatch(url) or len(url) > MAX_URL:
        raise InvalidValue(f"{field} must be an http(s) URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a port that is no port
    except ValueError:
        raise InvalidValue(f"{field} must be an http(s) URL") from None
    if not parts.hostname:
        raise InvalidValue(f"{field} must be an http(s) URL with a host")
    return url


_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_key(url: str) -> str:
    """The URL as compared with others (RFC 3986 section 6.2.2): two spellings of one URL,
    differing in the case of scheme, host or escapes, a default port or an empty path,
    have the same key. `url` passed check_url."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{parts.port}"
    if parts.username is not None:
        user = parts.username + (f":{parts.password}" if parts.password is not None else "")
        host = f"{user}@{host}"
    path = _ESCAPE.sub(lambda m: m.group(0).upper(), parts.path or "/")
    query = _ESCAPE.sub(lambda m: m.group(0).upper(), parts.query)
    return urlunsplit((scheme, host, path, query, parts.fragment))


def check_evidence(evidence: Evidence, today: date) -> Evidence:
    check_url(evidence.url, "evidence url")
    check_text(evidence.title, "evidence title", required=True, limit=MAX_TITLE)
    if evidence.published_on is not None:
        check_past_date(evidence.published_on, "evidence published_on", today)
    return evidence


def check_source(source: Source) -> Source:
    check_text(source.title, "source title", required=True, limit=MAX_TITLE * 2)
    if source.url is not None:
        check_url(source.url, "source url")
    return source


# ISO 3166-1 alpha-2, officially assigned codes.
_ISO_CODES = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO
BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ
DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP
GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG
KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML
MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE
PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL
SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM
US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW
"""
ISO_3166_ALPHA2 = frozenset(_ISO_CODES.split())
