"""Failed authentications per client address, counted in this process's memory with the
`limits` package (moving window): past the limit, an address is answered 429 without its
token even being looked up, until the oldest failure in the window has aged out.
Successful authentications are never counted."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

DEFAULT_AUTH_FAILURE_LIMIT = "10/minute"
OFF = "off"


def parse_limit(rule: str) -> RateLimitItem | None:
    """`10/minute`, `20 per 5 minutes`... (limits' notation), or `off`; ValueError else."""
    if rule.strip().lower() == OFF:
        return None
    return parse(rule)


class FailureLimit:
    """How many authentications may fail per address in a window (one server's count: on
    several servers an address may fail that many times on each)."""

    def __init__(self, rule: str = DEFAULT_AUTH_FAILURE_LIMIT) -> None:
        self.item = parse_limit(rule)
        self.storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)

    def retry_after(self, address: str) -> int | None:
        """None if `address` may try; else the whole seconds until it may again."""
        if self.item is None or self.limiter.test(self.item, address):
            return None
        reset_at, _ = self.limiter.get_window_stats(self.item, address)
        return max(1, math.ceil(reset_at - time.time()))

    def failed(self, address: str) -> None:
        if self.item is not None:
            self.limiter.hit(self.item, address)
