"""Schemathesis against the live server's own OpenAPI document: whatever a client may
send by the schema (and much it may not), the API answers without a 5xx and with a body
its schema describes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis import checks as st_checks

from segmint.api import create_app
from segmint.api._models import RULE_FORMAT
from segmint.config import ProjectConfig
from tests.api.conftest import Api, Shop, served

pytestmark = pytest.mark.slow


def _operations() -> list[tuple[str, str, bool]]:
    """Every operation the app declares (its document needs no server nor project), and
    whether it has an input that can be invalid (a body or a query parameter: any text is
    a valid path parameter, so only these have negative cases)."""
    doc = create_app(ProjectConfig(project="fuzz")).openapi()
    return [
        (
            method.upper(),
            path,
            "requestBody" in op or any(p["in"] == "query" for p in op.get("parameters", [])),
        )
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
    ]


#: rules of the grammar, for the document's `segment-rule` format (JSON Schema cannot spell
#: it): positive cases then define segments the parser accepts, as a client following the
#: document would, and the positive-data check holds the API to accepting them
_RULES = (
    "monetary > {n}",
    "count(purchase, {d}d) >= {n}",
    "recency_days > {n} and count(product_view, {d}d) >= 1",
    "not count(purchase, {d}d) > {n}",
    'country == "DE" or monetary >= {n}',
)
schemathesis.openapi.format(
    RULE_FORMAT,
    st.builds(
        lambda rule, n, d: rule.format(n=n, d=d),
        st.sampled_from(_RULES),
        st.integers(0, 10_000),
        st.integers(1, 365),
    ),
)
OPERATIONS = _operations()
#: examples per operation and mode: ~40 s for CI; SEGMINT_FUZZ_EXAMPLES=300 for a deep run
EXAMPLES = int(os.environ.get("SEGMINT_FUZZ_EXAMPLES", "30"))
st_checks.load_all_checks()
#: every check schemathesis has (status codes, content types, headers, schemas, negative
#: data rejected, positive data accepted, Allow headers, auth not ignored, ...)
ALL_CHECKS = st_checks.CHECKS.get_all()
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path, negatable in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if negatable or mode is GenerationMode.POSITIVE
]


@pytest.fixture(scope="module")
def fuzz_api(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """A server of its own: the fuzzer defines and deletes segments and sends events."""
    with served(shop, tmp_path_factory.mktemp("fuzz")) as running:
        yield running


@pytest.fixture(scope="module")
def api_schema(fuzz_api: Api) -> schemathesis.BaseSchema:
    """The document the running server serves at /openapi.json."""
    return schemathesis.openapi.from_url(f"{fuzz_api.url}/openapi.json")


def test_the_served_document_has_every_operation(api_schema: schemathesis.BaseSchema) -> None:
    """The fuzzed list is the served one (so no route escapes the tests below)."""
    served_ops = {
        (op.method.upper(), op.path) for op in (r.ok() for r in api_schema.get_all_operations())
    }
    assert served_ops == {(m, p) for m, p, _ in OPERATIONS}


# schemathesis' own `from_fixture(...).parametrize()` fails under pytest 9 (it sets
# `request.node._nodeid`, which pytest 9 no longer has), so each operation is a test of its
# own here, with the operation's strategy under hypothesis' `given`
@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_no_server_error_and_every_answer_matches_the_schema(
    api_schema: schemathesis.BaseSchema,
    fuzz_api: Api,
    method: str,
    path: str,
    mode: GenerationMode,
) -> None:
    """Regression (issue 15, defect 14): with the admin key, every schemathesis check holds:
    no 5xx, statuses, content types, headers and bodies as documented, negative data
    refused, positive data accepted, Allow on 405, auth not ignored."""
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {fuzz_api.tokens['admin']}"}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(
            headers=headers,
            checks=ALL_CHECKS,
            timeout=30,
        )

    check()
