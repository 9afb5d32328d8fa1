"""schemathesis against the cloud's own /openapi.json, shared by tests/e2e/cloud/test_schemathesis.py (short
budget) and bench/schemathesis_cloud.py (long budget).

A real `mpac-pgw serve` on 127.0.0.1 over a fresh SQLite file, provisioned with `mpac-pgw admin` (a partner
with fixed keys, a merchant, store `store_001` with the simulator provider) and one device enrolled through
`POST /v1/devices/activate`. Requests are signed at send time by a `requests` auth hook, over the exact bytes
on the wire (docs/cloud-api.md), with the partner key, the device key, or not at all. The checks: no 5xx, the
status code is documented, the body matches the documented schema, the content type too. Failures are
collected (not raised) so one run reports every distinct failure by check and route.
"""

from __future__ import annotations

import contextlib
import copy
import io
import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cloud import cli as cloud_cli
from sync.signing import authorization_header

PARTNER_KEY, PARTNER_SECRET = "pk_test_fuzz", "sk_test_fuzz_secret"
STORE_CODE = "store_001"
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
AUTH_MODES = ("partner", "device", "none")
CREATE = "POST /v1/payment_intents"
BATCHES = "POST /v1/sync/batches"
_ID_OPERATIONS = [("get", "/v1/payment_intents/{id}")] + [
    ("post", f"/v1/payment_intents/{{id}}/{verb}") for verb in ("confirm", "cancel", "capture", "sync")]
_EXCERPT = 400


@dataclass(frozen=True)
class Key:
    """An HMAC credential (the secret is never printed)."""

    api_key: str
    secret: str = field(repr=False)


class HmacAuth(requests.auth.AuthBase):
    """Signs the prepared request at send time: METHOD, the raw path without query, now, the body as sent."""

    def __init__(self, key: Key) -> None:
        self.key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        path = (r.path_url or "/").split("?", 1)[0]
        r.headers["Authorization"] = authorization_header(
            self.key.api_key, self.key.secret, r.method or "GET", path, int(time.time()), body)
        return r


@dataclass
class Cloud:
    """A running `mpac-pgw serve` and what was provisioned on it."""

    base_url: str
    db_url: str
    partner: Key
    device: Key
    device_id: str

    def auth(self, mode: str) -> HmacAuth | None:
        """The signing hook for one of AUTH_MODES."""
        return {"partner": HmacAuth(self.partner), "device": HmacAuth(self.device), "none": None}[mode]


def pgw_command() -> list[str]:
    """The installed console script beside this interpreter, else the same entry point via -m."""
    script = shutil.which("mpac-pgw", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "cloud.cli"]


def _admin(db_url: str, *argv: str) -> dict[str, Any]:
    """One `mpac-pgw admin …` command, run in this process (a subprocess each costs seconds on a busy box)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = cloud_cli.main(["admin", *argv, "--db", db_url])
    if status != 0:
        raise RuntimeError(f"mpac-pgw admin {' '.join(argv[:2])} failed with exit code {status}")
    value: dict[str, Any] = json.loads(out.getvalue())
    return value


def _provision(base_url: str, db_url: str) -> Cloud:
    partner = _admin(db_url, "partner", "create", "--name", "Fuzz", "--api-key", PARTNER_KEY,
                     "--secret-key", PARTNER_SECRET)
    merchant = _admin(db_url, "merchant", "create", "--partner", partner["client_partner_id"],
                      "--name", "Shop")
    store = _admin(db_url, "store", "create", "--merchant", merchant["merchant_id"], "--code", STORE_CODE)
    _admin(db_url, "provider-config", "set", "--store", store["store_id"], "--provider", "simulator",
           "--credentials", "{}")
    code = _admin(db_url, "activation-code", "--store", store["store_id"])["activation_code"]
    got = requests.post(base_url + "/v1/devices/activate", timeout=30,
                        json={"code": code, "serial_number": "FUZZ-1", "model": "fuzz"})
    if got.status_code != 201:
        raise RuntimeError(f"activation failed: {got.status_code} {got.text[:300]}")
    device = got.json()
    return Cloud(base_url, db_url, Key(PARTNER_KEY, PARTNER_SECRET),
                 Key(device["api_key"], device["secret_key"]), device["device_id"])


@contextlib.contextmanager
def running_cloud(workdir: Path, *, rate_limit_per_minute: int = 10**7) -> Iterator[Cloud]:
    """`mpac-pgw serve --port 0` on a new SQLite file in `workdir`, provisioned; killed on exit.

    The rate limit is raised so the fuzzer's request rate tests the API, not the limiter."""
    db_url = f"sqlite:///{workdir / 'pgw.sqlite3'}"
    log = (workdir / "pgw.log").open("w")
    proc = subprocess.Popen(
        [*pgw_command(), "serve", "--port", "0", "--db", db_url,
         "--rate-limit-per-minute", str(rate_limit_per_minute)],
        stdout=subprocess.PIPE, stderr=log, text=True,
        env={k: v for k, v in os.environ.items() if k not in ("MPAC_PGW_ENCRYPTION_KEY", "MPAC_PGW_DB")})
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if "listening on http://127.0.0.1:" not in line:
            log.flush()
            raise RuntimeError(f"mpac-pgw serve did not start: {line!r} {server_log_tail(workdir)}")
        yield _provision(line.split()[-1], db_url)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()


def server_log_tail(workdir: Path, limit: int = 4000) -> str:
    """The end of the cloud's stderr (tracebacks of 500s are logged there, never sent to clients)."""
    path = workdir / "pgw.log"
    return path.read_text(errors="replace")[-limit:] if path.exists() else ""


# -- the schema ----------------------------------------------------------------------------------------------
def with_links(raw: dict[str, Any]) -> dict[str, Any]:
    """The document plus OpenAPI links from a created intent (and from each answer about one) to every
    operation on `/v1/payment_intents/{id}`, so the stateful phase chains create → retrieve/confirm/cancel…"""
    doc = copy.deepcopy(raw)
    targets = {f"{method}_{path.rsplit('/', 1)[-1].strip('{}')}": {
        "operationRef": "#/paths/" + path.replace("/", "~1") + "/" + method,
        "parameters": {"path.id": "$response.body#/id"}} for method, path in _ID_OPERATIONS}
    sources = [("post", "/v1/payment_intents", "201"), *[(m, p, "200") for m, p in _ID_OPERATIONS]]
    for method, path, status in sources:
        response = doc["paths"].get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is not None:
            response.setdefault("links", {}).update(copy.deepcopy(targets))
    return doc


_refs = itertools.count(1)


def _plausible(case: Case, device_id: str) -> Case:
    """Nudge a generated body towards what the cloud can accept (its own store, a fresh merchant_ref_id,
    this device's id), so the fuzzer also reaches the handlers behind the first 404/409/403."""
    body = case.body
    if not isinstance(body, dict):
        return case
    label = f"{case.method.upper()} {case.operation.path}"
    serial = next(_refs)
    if label == CREATE:
        body["merchant_store_id"] = STORE_CODE
        body.pop("merchant_id", None)
        if isinstance(body.get("merchant_ref_id"), str):
            body["merchant_ref_id"] = f"{body['merchant_ref_id'][:200]}-{serial}"
        if (body.get("payment_method_types") is None) == (body.get("payment_method_type") is None):
            # the model wants exactly one of the two shapes (docs/cloud-api.md), which the schema cannot say
            methods = body.get("payment_method_types")
            body.pop("payment_method_type", None)
            body.pop("processing_mode", None)
            body["payment_method_types"] = methods if methods else ["cash"]
    elif label == BATCHES:
        body["device_id"] = device_id
    if case.headers and "Idempotency-Key" in case.headers:
        case.headers["Idempotency-Key"] = f"fuzz-{serial}"  # generated keys repeat: 422 "reused" each time
    return case


def load_schema(cloud: Cloud, *, always_plausible: bool = False) -> schemathesis.BaseSchema:
    """The cloud's /openapi.json (with links) aimed at the cloud; half the cases of create and sync-batch get
    the plausible nudge, half stay as generated (`always_plausible`: all of them, for the stateful phase,
    whose chains start only from an intent that was really created)."""
    raw = requests.get(cloud.base_url + "/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(with_links(raw))
    schema.config.update(base_url=cloud.base_url)
    # The chains are the links with_links adds; links inferred from the rest of the document (settlements,
    # secret rotation, refunds …) would make the set of next steps depend on what earlier runs left on the
    # server, which hypothesis refuses as a flaky strategy.
    schema.config.phases.stateful.inference.algorithms = []

    @schema.hook("before_generate_case")
    def nudge(context: schemathesis.HookContext,
              strategy: st.SearchStrategy[Case]) -> st.SearchStrategy[Case]:
        op = context.operation
        if op is None or f"{op.method.upper()} {op.path}" not in (CREATE, BATCHES):
            return strategy
        nudged = strategy.map(lambda case: _plausible(case, cloud.device_id))
        return nudged if always_plausible else st.one_of(strategy, nudged)

    return schema


# -- running and reporting -----------------------------------------------------------------------------------
@dataclass
class FailureSeen:
    """One distinct failure (route, check, title) with its first example; `count` how often it was seen."""

    route: str
    check: str
    title: str
    status: int
    request: str
    response: str
    count: int = 1


@dataclass
class Report:
    """What a run tried and found."""

    cases: Counter[str] = field(default_factory=Counter)
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    network_errors: Counter[str] = field(default_factory=Counter)
    failures: dict[tuple[str, str, str], FailureSeen] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Cases sent."""
        return sum(self.cases.values())

    def record(self, case: Case, response: schemathesis.Response, auth: HmacAuth | None) -> None:
        """Count the case and run the checks on its response, keeping any failure."""
        route = f"{case.method.upper()} {case.operation.path}"
        self.cases[route] += 1
        self.statuses[(route, response.status_code)] += 1
        try:
            case.validate_response(response, checks=CHECKS, transport_kwargs={"auth": auth})
        except FailureGroup as group:
            for failure in group.exceptions:
                check = failure.checks[0] if failure.checks else type(failure).__name__
                key = (route, check, failure.title)
                if key in self.failures:
                    self.failures[key].count += 1
                else:
                    self.failures[key] = FailureSeen(route, check, failure.title, response.status_code,
                                                     _request_text(case, response), _excerpt(response.text))

    def by_check(self) -> Counter[str]:
        """Failure occurrences per check."""
        return Counter({c: sum(f.count for f in self.failures.values() if f.check == c)
                        for c in {f.check for f in self.failures.values()}})

    def render(self) -> str:
        """A printable summary: cases per route and status, then each distinct failure with its example."""
        lines = [f"cases tried: {self.total}"]
        for route in sorted(self.cases):
            codes = " ".join(f"{s}x{n}" for (r, s), n in sorted(self.statuses.items()) if r == route)
            lines.append(f"  {route:<42} {self.cases[route]:6}   {codes}")
        for route, n in sorted(self.network_errors.items()):
            lines.append(f"  network errors on {route}: {n}")
        lines.append(f"failures: {sum(f.count for f in self.failures.values())} "
                     f"({len(self.failures)} distinct)" + "".join(f"; {c}: {n}" for c, n in
                                                                 sorted(self.by_check().items())))
        for f in self.failures.values():
            lines += [f"  [{f.check}] {f.route} -> {f.status}: {f.title} (x{f.count})",
                      f"    request:  {f.request}", f"    response: {f.response}"]
        return "\n".join(lines)


def _excerpt(text: str) -> str:
    return text if len(text) <= _EXCERPT else text[:_EXCERPT] + f"… ({len(text)} chars)"


def _request_text(case: Case, response: schemathesis.Response) -> str:
    """Method, URL and body of what was sent (the Authorization header is left out: it carries a key)."""
    sent = response.request
    body = sent.body.decode("utf-8", "replace") if isinstance(sent.body, bytes) else str(sent.body or "")
    return f"{case.method.upper()} {sent.url} {_excerpt(body)}"


def _settings(examples: int, *, derandomize: bool) -> hypothesis.settings:
    return hypothesis.settings(max_examples=examples, deadline=None, database=None, derandomize=derandomize,
                               suppress_health_check=list(HealthCheck), print_blob=False,
                               phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])


def _send(case: Case, auth: HmacAuth | None, report: Report) -> None:
    route = f"{case.method.upper()} {case.operation.path}"
    try:
        response = case.call(auth=auth, timeout=30)
    except requests.RequestException:
        report.network_errors[route] += 1
        return
    report.record(case, response, auth)


def fuzz_operations(schema: schemathesis.BaseSchema, auth: HmacAuth | None, report: Report, *,
                    examples: int, deadline: float, seed: int | None = None,
                    modes: tuple[GenerationMode, ...] = tuple(GenerationMode)) -> None:
    """Every operation, `examples` cases per mode (schema-valid and schema-violating), until `deadline`.

    `seed` None: derandomized (the same cases every run, as CI wants); else Hypothesis's @seed."""
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in modes:
            @given(case=operation.as_strategy(generation_mode=mode))
            @_settings(examples, derandomize=seed is None)
            def run(case: Case) -> None:
                if time.monotonic() < deadline:
                    _send(case, auth, report)

            # Unsatisfiable: no input of this mode exists (no invalid input for GET /health)
            with contextlib.suppress(hypothesis.errors.Unsatisfiable):
                (hypothesis.seed(seed)(run) if seed is not None else run)()


def fuzz_stateful(schema: schemathesis.BaseSchema, auth: HmacAuth | None, report: Report, *,
                  scenarios: int, steps: int, deadline: float, derandomize: bool = True) -> None:
    """Chains of linked calls (create → retrieve/confirm/cancel/capture/sync …): derandomized, one round of
    `scenarios`; else random rounds of at most 10 scenarios until `scenarios` ran or `deadline` passed."""
    base = schema.as_state_machine()

    class Machine(base):  # type: ignore[valid-type,misc]
        def get_call_kwargs(self, case: Case) -> dict[str, Any]:
            return {"auth": auth, "timeout": 30}

        def validate_response(self, response: schemathesis.Response, case: Case,
                              additional_checks: Any = None, **kwargs: Any) -> None:
            report.record(case, response, auth)

    done = 0
    while done < scenarios and time.monotonic() < deadline:
        n = scenarios if derandomize else min(10, scenarios - done)
        config = hypothesis.settings(_settings(n, derandomize=derandomize), stateful_step_count=steps)
        Machine.run(settings=config)
        done += n
