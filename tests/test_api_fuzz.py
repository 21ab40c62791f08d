"""Property-based test of the whole HTTP API: no 5xx for any generated request, whoever sends it.

Schemathesis reads the server's own OpenAPI schema and Hypothesis generates
requests for every operation (valid and invalid bodies, parameters, headers);
each request carries the token of a role in turn (anonymous included). The
server must answer every one with a status below 500 and, for errors, the
API's ``{"error", "message"}`` body. At least :data:`MIN_REQUESTS` requests are
sent in all (``ONEMAP_FUZZ_EXAMPLES`` raises the examples per operation).
"""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from spatial.api.main import create_api
from spatial.auth import ROLES, create_token
from spatial.db.engine import session_scope
from spatial.models import Worker
from tests.conftest import truncate_all
from tests.district import seed_small_district

MIN_REQUESTS = 10_000
#: Paths whose answers are files or Open311 XML: checked for status only.
_NON_JSON = (".xml", ".png")


@pytest.fixture
def tokens(committed) -> dict[str, str | None]:
    with session_scope() as s:
        ids = seed_small_district(s)
        dept = next(iter(ids["departments"].values()))
        worker = Worker(code="W-FUZZ", name="Fuzz Worker", department_id=dept, on_duty=True)
        s.add(worker)
        s.flush()
        out: dict[str, str | None] = {"anonymous": None}
        for role in ROLES:
            out[role] = create_token(s, name=f"fuzz-{role}", role=role,
                                     department_id=dept if role in ("handler", "grid_worker") else None,
                                     worker_id=worker.id if role == "grid_worker" else None)
    return out


def _examples(n_operations: int) -> int:
    wanted = int(os.environ.get("ONEMAP_FUZZ_EXAMPLES", "0"))
    return max(wanted, -(-MIN_REQUESTS * 5 // (4 * n_operations)))


class Tally:
    """Requests sent, answers by status class, and what went wrong."""

    def __init__(self, tokens: dict[str, str | None]) -> None:
        self.roles = itertools.cycle(tokens.items())
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.failures: list[str] = []


def _fuzz(op, examples: int, tally: Tally) -> None:
    """Send ``examples`` generated requests to one operation, each as the next role."""

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=op.as_strategy())
    def run(case) -> None:
        role, token = next(tally.roles)
        headers = dict(case.headers or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        case.headers = headers
        try:
            response = case.call()
        except Exception as exc:  # the in-process client re-raises what the server's 500 handler logged
            tally.failures.append(f"500 {op.label} as {role}: {type(exc).__name__}: {str(exc)[:200]}")
            return
        tally.sent += 1
        status = response.status_code
        tally.statuses[status // 100] = tally.statuses.get(status // 100, 0) + 1
        if status >= 500:
            tally.failures.append(f"{status} {op.label} as {role}: {case.as_curl_command()[:400]} -> "
                                  f"{response.text[:300]}")
        elif status >= 400 and not op.path.endswith(_NON_JSON) and "{fmt}" not in op.path:
            body = response.json()
            if not (isinstance(body, dict) and {"error", "message"} <= set(body)):
                tally.failures.append(f"{status} {op.label}: not the API's error body: {response.text[:200]}")

    run()


def test_no_5xx_for_any_generated_request(tokens, engine):
    api = create_api(background=False)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25, [op.label for op in operations]
    tally = Tally(tokens)
    for op in operations:
        _fuzz(op, _examples(len(operations)), tally)
    truncate_all(engine)
    assert not tally.failures, "\n".join(sorted({f[:300] for f in tally.failures})[:40])
    assert tally.sent >= MIN_REQUESTS, tally.statuses
    assert tally.statuses.get(2, 0) > MIN_REQUESTS // 10, tally.statuses  # the generator also gets through
