"""Cost of signing in and of the auth check per API request (issue 13), side by side in one run.

Builds a separate database ``onemap_bench_auth`` on the project cluster
(dropped and migrated), one account and one token, then measures:

* **sign-in**: argon2id verify alone with OneMap's cost
  (``spatial.accounts.HASHER``) and with argon2-cffi's default (RFC 9106
  low-memory) for the ratio; ``accounts.authenticate`` (row lock + verify +
  update) and a full ``POST /login`` through the ASGI app (session row,
  cookies, audit row);
* **auth check per request**: the lookup alone on an open session (token:
  ``principal_for_token``; cookie: ``accounts.signed_in``), and end to end
  ``GET /api/sensors`` (a route with an optional principal) anonymous vs with a
  bearer token vs with a session cookie, so the added cost and the ratio to
  the anonymous call are from the same run.

Run: ``PYTHONPATH=. python bench/bench_auth.py [--n 2000]``; writes
``bench/results_auth.json`` (``results_auth_nocache.json`` with
``ONEMAP_AUTH_CACHE_SECONDS=0``: every check a database round trip). Figures
are in docs/auth.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

DB = "onemap_bench_auth"
PASSWORD = "bench-password-123"


def _use_bench_db() -> str:
    from spatial.settings import get_settings

    os.environ.update(get_settings().role_env(DB))
    os.environ["ONEMAP_LOGIN_RATE"] = "1000000/minute"
    os.environ["ONEMAP_PUBLIC_RATE"] = "100000000/minute"
    get_settings.cache_clear()
    return get_settings().sqlalchemy_url(DB)


def _p(samples: list[float]) -> dict:
    s = sorted(samples)
    return {"n": len(s), "p50_ms": round(statistics.median(s) * 1000, 4),
            "p95_ms": round(s[int(0.95 * (len(s) - 1))] * 1000, 4)}


def _time(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="requests per auth-check series")
    ap.add_argument("--n-sign-in", type=int, default=15, help="sign-ins per series")
    args = ap.parse_args()
    url = _use_bench_db()

    from argon2 import PasswordHasher
    from fastapi.testclient import TestClient

    from spatial import accounts
    from spatial.api.deps import SESSION_COOKIE
    from spatial.api.main import create_api
    from spatial.auth import create_token, principal_for_token
    from spatial.db import migrate
    from spatial.db.engine import drop_database, new_session, session_scope

    drop_database(url)
    migrate.upgrade(url)
    with session_scope() as s:
        accounts.create_user(s, "bench", ["dispatcher"], password=PASSWORD)
        token = create_token(s, name="bench", role="dispatcher")
    res: dict = {"cost": {"time_cost": accounts.HASH_TIME_COST, "memory_kib": accounts.HASH_MEMORY_KIB,
                          "parallelism": accounts.HASH_PARALLELISM}, "cpus": os.cpu_count(),
                 "load_avg_1m": round(os.getloadavg()[0], 2)}

    # --- sign-in
    h = accounts.HASHER.hash(PASSWORD)
    default = PasswordHasher()
    hd = default.hash(PASSWORD)
    res["argon2_verify_onemap"] = _p(_time(lambda: accounts.HASHER.verify(h, PASSWORD), args.n_sign_in))
    res["argon2_verify_library_default"] = _p(_time(lambda: default.verify(hd, PASSWORD), max(5, args.n_sign_in // 3)))

    def authenticate() -> None:
        with session_scope() as s:
            accounts.authenticate(s, "bench", PASSWORD)

    res["authenticate"] = _p(_time(authenticate, args.n_sign_in))
    client = TestClient(create_api(background=False), base_url="http://127.0.0.1")

    def login() -> None:
        r = client.post("/login", data={"username": "bench", "password": PASSWORD}, follow_redirects=False)
        assert r.status_code == 303, r.text

    res["post_login"] = _p(_time(login, args.n_sign_in))
    cookie = client.cookies.get(SESSION_COOKIE)
    client.cookies.clear()

    # --- the auth check alone, on an open session (one transaction, as in a request)
    s = new_session()
    try:
        for _ in range(50):
            principal_for_token(s, token)
            accounts.signed_in(s, cookie)
        res["lookup_token"] = _p(_time(lambda: principal_for_token(s, token), args.n))
        res["lookup_session"] = _p(_time(lambda: accounts.signed_in(s, cookie), args.n))
    finally:
        s.close()

    # --- the whole dependency (header parsing, lookup, scope check) on a real Request, per request
    from starlette.requests import Request

    from spatial.api.deps import resolve_principal

    def request(headers: dict[str, str]) -> Request:
        raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        return Request({"type": "http", "method": "GET", "path": "/api/sensors", "headers": raw,
                        "query_string": b"", "client": ("127.0.0.1", 1)})

    s = new_session()
    try:
        for name, headers in (("anonymous", {}), ("token", {"Authorization": f"Bearer {token}"}),
                              ("session", {"Cookie": f"{SESSION_COOKIE}={cookie}"})):
            res[f"resolve_principal_{name}"] = _p(_time(lambda h=headers: resolve_principal(request(h), s), args.n))
    finally:
        s.close()
    if os.environ.get("ONEMAP_AUTH_CACHE_SECONDS") == "0":
        res["note"] = "auth cache off (ONEMAP_AUTH_CACHE_SECONDS=0): every lookup is a database round trip"

    # --- end to end, interleaved so that load changes hit every series alike
    series = {"anonymous": {}, "token": {"Authorization": f"Bearer {token}"},
              "session": {"Cookie": f"{SESSION_COOKIE}={cookie}"}}
    times: dict[str, list[float]] = {k: [] for k in series}
    for _ in range(50):
        for headers in series.values():
            client.get("/api/sensors", headers=headers)
    for _ in range(args.n):
        for name, headers in series.items():
            t0 = time.perf_counter()
            r = client.get("/api/sensors", headers=headers)
            times[name].append(time.perf_counter() - t0)
            assert r.status_code == 200
    for name in series:
        res[f"get_sensors_{name}"] = _p(times[name])
    base = res["get_sensors_anonymous"]["p50_ms"]
    for name in ("token", "session"):
        p50 = res[f"get_sensors_{name}"]["p50_ms"]
        res[f"added_{name}_ms_p50"] = round(p50 - base, 4)
        res[f"ratio_{name}_vs_anonymous"] = round(p50 / base, 3)
    res["ratio_default_cost_vs_onemap"] = round(res["argon2_verify_library_default"]["p50_ms"]
                                                / res["argon2_verify_onemap"]["p50_ms"], 2)
    name = "results_auth_nocache.json" if os.environ.get("ONEMAP_AUTH_CACHE_SECONDS") == "0" else "results_auth.json"
    out = Path(__file__).with_name(name)
    out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    drop_database(url)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
