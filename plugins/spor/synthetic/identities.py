"""Identity numbers for synthetic treatments: generated, well formed, and nobody's.

Personnummer and samordningsnummer (birth day + 60) have valid dates and Luhn check digits; a
D15 defect gets a wrong check digit on purpose. Reservnummer follow Region Stockholm's shape
``99yyyyNNNNNC``. Every number is drawn once per data set, so patients never share one by chance.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from spor.registration.identity import luhn_check_digit


def _luhn(digits: str) -> str:
    # Luhn with weight 2 on the rightmost payload digit (= weights 2,1,2.. from the left when
    # the payload length is odd, as for YYMMDDNNN).
    total = 0
    for i, ch in enumerate(reversed(digits)):
        v = int(ch) * (2 if i % 2 == 0 else 1)
        total += v - 9 if v > 9 else v
    return str((10 - total % 10) % 10)


class Identities:
    """Draws unique identity numbers from the planner's random stream."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()

    def _birth(self) -> date:
        return date(1930, 1, 1) + timedelta(days=self.rng.randrange(0, 33000))

    def _unique(self, make) -> str:
        while True:
            value = make()
            if value not in self.used:
                self.used.add(value)
                return value

    def person(self, *, samordning: bool = False, wrong_check: bool = False) -> str:
        def make() -> str:
            b = self._birth()
            day = b.day + 60 if samordning else b.day
            nine = f"{b.year % 100:02d}{b.month:02d}{day:02d}{self.rng.randrange(1, 1000):03d}"
            check = luhn_check_digit(nine)
            if wrong_check:
                check = str((int(check) + self.rng.randrange(1, 10)) % 10)
            return f"{b.year // 100:02d}{nine}{check}"

        return self._unique(make)

    def reservnummer(self) -> str:
        def make() -> str:
            body = f"{self.rng.randrange(1930, 2024):04d}{self.rng.randrange(0, 100000):05d}"
            return "99" + body + _luhn(body[2:])  # Luhn over positions 5-11

        return self._unique(make)
