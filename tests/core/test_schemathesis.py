"""Schemathesis against /api/schema/ (property-based: examples from the schema and random
bodies, parameters and headers), as a lead, an annotator and a non-member, each request made
twice: with the generated path ids and with real ones. Zero 5xx; every response must match the
schema's status codes, content types and bodies. Bounded: RUBRIC_FUZZ_EXAMPLES examples per
operation, positive and negative (default 25, about a minute here; raise it for a longer run)."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.tokens import token_for
from tests.core.objects import every_object

EXAMPLES = int(os.environ.get("RUBRIC_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def api_schema(db):
    """The schema, served by the WSGI application in this process (on the test's database
    connection: as Django's test client does, requests do not close it)."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    # What config.wsgi serves, without its boot steps for a worker process (it freezes the
    # garbage collector's view of everything alive: here, the test run's).
    application = get_wsgi_application()

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(db):
    """Objects of every kind (tests.core.objects); a token each for the lead (staff too), the
    annotator and someone of no project."""
    made = every_object(name="Fuzzed")
    tokens = [token_for(user=user).key for user in (made.lead, made.annotator, made.outsider)]
    return tokens, made.ids


def test_the_api_answers_every_generated_request_as_its_schema_says(api_schema, world):
    """Each operation in turn, positive and negative data (schemathesis' own pytest plugin
    does not run on this pytest, so the operations are driven here through Hypothesis)."""
    tokens, ids = world
    failures = {}
    calls = [0]
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | (
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE)
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            generated = dict(case.path_parameters or {})
            real = {name: ids.get(name, value) for name, value in generated.items()}
            for path_parameters in [generated, real] if generated else [generated]:
                case.path_parameters = path_parameters
                for token in tokens:
                    response = case.call(headers={"Authorization": f"Token {token}"})
                    calls[0] += 1
                    case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # one operation's failure; go on with the others
            failures[operation.label] = str(exc)[:3000]
    assert calls[0] > len(operations) * EXAMPLES * 2
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())


STATEFUL_EXAMPLES = int(os.environ.get("RUBRIC_FUZZ_STATEFUL_EXAMPLES", "15"))


def test_chains_of_calls_that_pass_ids_along_answer_as_the_schema_says(api_schema, world):
    """Stateful: schemathesis links the operations by the ids one answers and another takes
    (links inferred from the schema, such as a project created and then read, changed or
    claimed from, an assignment claimed and then submitted, an annotation submitted and then
    changed), and runs random chains of them as the lead and as an annotator. Zero 5xx and
    every response as the schema says, at every step."""
    tokens, _ = world
    base = api_schema.as_state_machine()
    assert len(base.bundles) >= 10  # links were found: the chains reach past the first call
    steps: list[tuple[str, int]] = []
    for token in tokens[:2]:

        class Chains(base):
            headers = {"Authorization": f"Token {token}"}

            def get_call_kwargs(self, case):
                return {"headers": self.headers}

            def after_call(self, response, case):
                steps.append((case.operation.label, response.status_code))

            def validate_response(self, response, case, **kwargs):
                case.validate_response(response, checks=CHECKS)

        Chains.run(
            settings=settings(
                max_examples=STATEFUL_EXAMPLES,
                stateful_step_count=6,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
        )
    assert not [step for step in steps if step[1] >= 500]
    # ids taken from earlier answers reached operations on one object, and they answered 2xx
    chained = {label for label, code in steps if "{" in label and 200 <= code < 300}
    assert len(chained) >= 3, sorted(set(steps))
