"""Public holidays of countries and their subdivisions, from the ``holidays`` package.

Edge module: the only importer of ``holidays``. It adapts the package to the core's protocols:
:class:`HolidaysPackage` is the :class:`~worker.core.policy_calendars.HolidayCatalog` that
``parse_policy`` asks which countries and subdivisions exist (``worker/edge/policy_file.py``
passes it in), and :class:`CountryHolidays` is the
:class:`~worker.core.calendars.HolidaySource` a country calendar asks, year by year, for its
closed days. The package is imported on first use, not with this module: importing it and
building a country's first calendar take about half a second, which a policy without a
country calendar should not pay.

The package's version is part of a policy's meaning (a new release may add a holiday), so
:attr:`HolidaysPackage.version` says which one answers (``holidays 0.109``); the policy
records it and its hash covers it.
"""

from datetime import date
from importlib.metadata import version

__all__ = ["CountryHolidays", "HolidaysPackage"]


class CountryHolidays:
    """The public holidays of a country, or of a subdivision of it: a ``HolidaySource``.

    ``country`` is an ISO 3166-1 alpha-2 code and ``subdivision`` one of the package's codes
    for it (``CA``, ``BY``), both as :meth:`HolidaysPackage.countries` and
    :meth:`HolidaysPackage.subdivisions` list them; anything else raises
    ``NotImplementedError`` from the package. Each name says where the holiday comes from:
    ``Christmas Day (US)`` when the whole country has it, ``Cesar Chavez Day (US-CA)`` when
    only the subdivision does.
    """

    def __init__(self, country: str, subdivision: str | None = None) -> None:
        import holidays

        self.country = country
        self.subdivision = subdivision
        self.name = country if subdivision is None else f"{country}-{subdivision}"
        # Built once now, when the policy is loaded: the first instance of a country loads its
        # module and translations (about 0.4 s), which would otherwise stall the first deadline
        # the worker computes; a year after that costs about a millisecond.
        holidays.country_holidays(country, subdiv=subdivision)

    def __repr__(self) -> str:
        return f"CountryHolidays({self.country!r}, {self.subdivision!r})"

    def closed_days(self, year: int) -> dict[date, str]:
        """Return the public holidays of ``year`` (observed days included), with their names."""
        import holidays

        here = holidays.country_holidays(self.country, subdiv=self.subdivision, years=year)
        country = holidays.country_holidays(self.country, years=year) if self.subdivision else here
        days: dict[date, str] = {}
        for day in sorted(here):  # the days of ``year`` (the calendar ignores any other)
            national = set(country.get_list(day))
            days[day] = "; ".join(
                f"{name} ({self.country if name in national else self.name})"
                for name in here.get_list(day)
            )
        return days


class HolidaysPackage:
    """The ``holidays`` package as the catalog of country calendars: a ``HolidayCatalog``."""

    def __init__(self) -> None:
        self.version = f"holidays {version('holidays')}"

    def __repr__(self) -> str:
        return f"HolidaysPackage({self.version!r})"

    def countries(self) -> frozenset[str]:
        """Return the ISO 3166-1 alpha-2 codes of the countries the package knows."""
        import holidays

        return frozenset(holidays.list_supported_countries(include_aliases=False))

    def subdivisions(self, country: str) -> dict[str, str]:
        """Return every spelling of a subdivision of ``country`` mapped to its code.

        Each code maps to itself; the package's other names for it (``Bayern``, ``GP``) map
        to the code. Empty for a country without subdivisions or an unknown one.
        """
        import holidays

        codes = holidays.list_supported_countries(include_aliases=False).get(country)
        if not codes:
            return {}
        spellings: dict[str, str] = dict(
            holidays.country_holidays(country).subdivisions_aliases.items()
        )
        spellings.update((code, code) for code in codes)
        return spellings

    def source(self, country: str, subdivision: str | None) -> CountryHolidays:
        """Return the public holidays of ``country`` (and ``subdivision``, when given)."""
        return CountryHolidays(country, subdivision)
