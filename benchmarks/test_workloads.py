"""Every workload of workloads.py, on every loop of conftest.py.

Run with ``--benchmark-disable`` to check once that each loop completes
every workload, without timing.
"""

import pytest

import workloads


@pytest.mark.parametrize("workload", workloads.WORKLOADS, ids=lambda workload: workload.name)
def test_workload(benchmark, workload, loop):
    # One table per workload, the loops side by side.
    benchmark.group = workload.name
    benchmark.extra_info["ops"] = workload.ops
    benchmark(workload, loop)
