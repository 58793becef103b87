"""Erlang C: how many counselors keep the wait short, given arrivals and chat durations.

The model (M/M/N, "Erlang C"), and what it assumes about a helpline:

* Visitors arrive at random (a Poisson process) at a steady rate within an hour; the rate of
  an hour of the week is the measured demand of that hour divided by the weeks measured.
* Chat durations are exponentially distributed around the mean handling time (AHT), here
  estimated from the duration histogram (core/planner.py).
* Nobody gives up while waiting and the queue has no limit. Real visitors do give up, so the
  model over-estimates waits a little: it errs towards one counselor too many.
* N servers are chat slots. A counselor running k chats at once is taken as k independent
  servers with the same AHT; that is optimistic (a counselor with two chats is slower at
  each), so the planner lets the manager choose k (1 by default).

With offered traffic A = arrivals per second x AHT (in Erlangs), and N > A slots:

    P(wait) = C(N, A) = N B / (N - A (1 - B)),   B = Erlang B, by the stable recursion
                                                 B(0) = 1, B(n) = A B(n-1) / (n + A B(n-1))
    P(W > t) = C(N, A) exp(-(N - A) t / AHT)

so the q-quantile of the wait over *all* arrivals (those served at once included) is 0 when
C <= 1 - q, else AHT / (N - A) * ln(C / (1 - q)). With N <= A the queue grows without bound.
Checked against published Erlang C tables in tests/unit/test_erlang.py.
"""

from __future__ import annotations

import math

# Beyond this many slots per hour the answer is "more than we can plan for".
MAX_SERVERS = 1000


def erlang_b(servers: int, traffic: float) -> float:
    """Blocking probability of an M/M/N/N system (Erlang B)."""
    b = 1.0
    for n in range(1, servers + 1):
        b = traffic * b / (n + traffic * b)
    return b


def erlang_c(servers: int, traffic: float) -> float:
    """Probability that an arrival has to wait (1.0 when the queue is unstable)."""
    if traffic <= 0:
        return 0.0
    if servers <= traffic:
        return 1.0
    b = erlang_b(servers, traffic)
    return servers * b / (servers - traffic * (1 - b))


def wait_quantile(servers: int, traffic: float, handling_s: float, q: float) -> float:
    """The q-quantile (0 < q < 1) of the wait in seconds; inf when N <= A."""
    if traffic <= 0:
        return 0.0
    if servers <= traffic:
        return math.inf
    c = erlang_c(servers, traffic)
    if c <= 1 - q:
        return 0.0
    return handling_s / (servers - traffic) * math.log(c / (1 - q))


def mean_wait(servers: int, traffic: float, handling_s: float) -> float:
    """Average speed of answer in seconds: C x AHT / (N - A)."""
    if traffic <= 0:
        return 0.0
    if servers <= traffic:
        return math.inf
    return erlang_c(servers, traffic) * handling_s / (servers - traffic)


def servers_needed(
    arrivals_per_hour: float, handling_s: float, target_wait_s: float, q: float = 0.5
) -> int:
    """The fewest slots that keep the q-quantile of the wait (median by default) <= target."""
    if arrivals_per_hour <= 0 or handling_s <= 0:
        return 0
    traffic = arrivals_per_hour / 3600 * handling_s
    servers = max(1, math.floor(traffic) + 1)
    while servers < MAX_SERVERS:
        if wait_quantile(servers, traffic, handling_s, q) <= target_wait_s:
            return servers
        servers += 1
    return MAX_SERVERS
