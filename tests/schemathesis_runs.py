"""Running one operation's generated cases with schemathesis and hypothesis, shared by the
contract tests of the console API (tests/api/test_schemathesis.py) and of the TMF621 API
(tests/tmf/test_conformance.py)."""

import time

import hypothesis
from hypothesis import HealthCheck, Phase
from schemathesis.core.failures import FailureGroup


def run_operation(
    operation, *, mode, checks, examples, call, timings: list, path_parameters=None
) -> str | None:
    """Run `examples` generated cases; the first failure's report, or None. The run's duration
    goes into `timings` as (seconds, operation, mode)."""
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)
    started = time.monotonic()

    @hypothesis.settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @hypothesis.given(case=strategy)
    def run(case):
        call(case, checks)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        return None  # nothing invalid to send (e.g. negative mode on an operation without inputs)
    except (AssertionError, FailureGroup) as failure:
        pinned = " pinned" if path_parameters else ""
        return f"{operation.label} [{mode.value}{pinned}]\n{failure}"
    finally:
        timings.append((time.monotonic() - started, operation.label, mode.value))
    return None
