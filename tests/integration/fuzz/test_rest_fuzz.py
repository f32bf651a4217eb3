"""Schemathesis over the OpenAPI document, against a real server: no operation answers a 5xx.

Every operation of ``/schema/openapi.json`` gets schema-valid (positive) requests, schema-breaking
(negative) ones and valid ones on rows that exist, ``FUZZ_EXAMPLES`` of each, signed in as a
buyer and then as a seller. The requests are derandomized: a run repeats the last one's, so a red
CI reproduces. A failure lists every operation that answered 5xx, with the ``curl`` command that
does it again.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok

from tests.integration.factories import UserHandle
from tests.integration.fuzz.conftest import FUZZ_EXAMPLES, Cast
from tests.integration.servers import WebServer

pytestmark = pytest.mark.fuzz

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
)


def token_for(case: Case, fuzzer: UserHandle, cast: Cast) -> str:
    """The fuzzer's token; a spare one for Logout, which revokes the token it is sent with
    (once the spares are spent, a revoked one: the request still runs, unauthenticated)."""
    if case.operation.label != "POST /api/auth/logout":
        return fuzzer.token
    spares = cast.spare_tokens[fuzzer.id]
    return spares.pop() if len(spares) > 1 else spares[0]


def call_and_check(case: Case, fuzzer: UserHandle, cast: Cast, server: WebServer) -> None:
    """Send the case signed in as ``fuzzer``: schemathesis's ``not_a_server_error`` check, and a
    failure that says which request, what came back and how to send it again."""
    headers = {"Authorization": f"Token {token_for(case, fuzzer, cast)}"}
    response = case.call(base_url=server.url, headers=headers, timeout=15)
    try:
        case.validate_response(response, checks=[not_a_server_error], headers=headers)
    except BaseExceptionGroup:
        curl = case.as_curl_command(headers=headers, base_url=server.url)
        raise AssertionError(
            f"{response.status_code} from {case.operation.label}\n    {curl}\n"
            f"    answer: {response.text[:300]!r}"
        ) from None


# Values a generator rarely writes: numbers past every integer type, other digits, a null byte.
HOSTILE_VALUES = [
    "9223372036854775807", "9223372036854775808", "1" + "0" * 20, "9" * 4400, "-1", "0", "00",
    "1e3", "1.5", "\u0661", "\uff11", "\x00", " 1", "",
]  # fmt: skip


def hostile(operation: APIOperation, location: str) -> SearchStrategy[Case] | None:
    """Valid requests but for one query or path parameter, set to one of ``HOSTILE_VALUES``."""
    declared = operation.query if location == "query" else operation.path_parameters
    names = [parameter.name for parameter in declared]
    if not names:
        return None

    def requests_with(pick: tuple[str, str]) -> SearchStrategy[Case]:
        value = {pick[0]: pick[1]}
        if location == "query":
            return operation.as_strategy(query=value)
        return operation.as_strategy(path_parameters=value)

    return st.tuples(st.sampled_from(names), st.sampled_from(HOSTILE_VALUES)).flatmap(requests_with)


def strategies(operation: APIOperation, cast: Cast) -> Iterator[tuple[str, SearchStrategy[Case]]]:
    """Valid requests, invalid ones, valid ones on rows that exist, and hostile parameters."""
    yield "positive", operation.as_strategy(generation_mode=GenerationMode.POSITIVE)
    yield "negative", operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
    real = {k: v for k, v in cast.path_ids.items() if f"{{{k}}}" in operation.path}
    if real:
        yield "existing rows", operation.as_strategy(path_parameters=real)
    for location in ("query", "path"):
        strategy = hostile(operation, location)
        if strategy is not None:
            yield f"hostile {location}", strategy


def fuzz_every_operation(fuzzer: UserHandle, cast: Cast, server: WebServer) -> None:
    api = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")
    failures: list[str] = []
    operations: list[APIOperation] = []
    for result in api.get_all_operations():
        assert isinstance(result, Ok), f"an operation failed to load: {result.err()}"
        operations.append(result.ok())
    assert len(operations) >= 60  # every operation of the document, none lost on loading
    for operation in operations:
        for name, strategy in strategies(operation, cast):

            @FUZZ_SETTINGS
            @given(case=strategy)
            def fuzz(case: Case) -> None:
                call_and_check(case, fuzzer, cast, server)

            try:
                fuzz()
            except AssertionError as failure:
                failures.append(f"[{name}] {failure}")
            except Unsatisfiable:
                # Nothing in this operation's schema to break (no parameters, no body).
                assert name == "negative", operation.label
    assert not failures, "server errors:\n" + "\n".join(failures)
    # The requests went out signed in: the fuzzer's token still opens its profile.
    profile = requests.get(
        f"{server.url}/api/auth/profile/",
        headers={"Authorization": f"Token {fuzzer.token}"},
        timeout=15,
    )
    assert profile.status_code == 200, profile.text


def test_no_operation_answers_a_buyer_a_server_error(cast: Cast, fuzz_server: WebServer) -> None:
    fuzz_every_operation(cast.buyer, cast, fuzz_server)


def test_no_operation_answers_a_seller_a_server_error(cast: Cast, fuzz_server: WebServer) -> None:
    fuzz_every_operation(cast.seller, cast, fuzz_server)
