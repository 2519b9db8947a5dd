"""How much faster each event loop runs each workload than stock asyncio.

    PYTHONPATH=src python benchmarks/ratios.py [--rounds N] [--only WORKLOAD]
                                               [--loops LOOP ...]

Prints one Markdown table: a row per workload, a column per loop, each cell
the loop's speed relative to asyncio (×2.00: twice as fast), median over the
rounds, with the lowest and highest round in brackets.

Rounds are interleaved so machine noise hits every loop alike: in round r
each loop runs the workload once, in an order rotated by r, and the ratio
for round r compares times taken moments apart. That makes the ratios
meaningful on a busy machine, where absolute times are not.

Progress goes to stderr, the table to stdout. A run that hangs stops the
process after --timeout seconds, naming the workload and the loop, with
every thread's traceback.
"""

import argparse
import faulthandler
import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import threading
import time

import loops
import workloads


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Ratio of each loop's speed to stock asyncio's, per workload.")
    parser.add_argument(
        "--rounds", type=int, default=40,
        help="timed rounds per workload; every loop runs once per round (default: 40)")
    parser.add_argument(
        "--only", action="append", choices=sorted(workloads.BY_NAME), metavar="NAME",
        help="run only this workload (repeat for several); one of: "
             + ", ".join(workloads.BY_NAME))
    parser.add_argument(
        "--loops", nargs="+", choices=loops.NAMES, metavar="LOOP",
        help="the loops to compare (asyncio, the baseline, is always added); "
             "any of: " + ", ".join(loops.NAMES))
    parser.add_argument(
        "--timeout", type=float, default=120.0,
        help="seconds one run of one workload may take before the process is "
             "stopped as hung (default: 120)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    return args


def _load_loops(names):
    """The factories of the loops that can run here, and why the others cannot."""
    factories = {}
    unavailable = {}
    for kind in loops.LOOPS:
        if kind.name not in names:
            continue
        try:
            factories[kind.name] = kind.load()
        except loops.Unavailable as exc:
            unavailable[kind.name] = str(exc)
    return factories, unavailable


def _report_hang(workload, loop_name, timeout):
    print(f"\n{workload.name} on {loop_name}: still running after {timeout:g} s, "
          f"stopping. Every thread's traceback:", file=sys.stderr, flush=True)
    faulthandler.dump_traceback(all_threads=True)
    os._exit(3)


def _timed_run(workload, loop_name, loop, timeout):
    # Every run starts with the same heap, whatever the previous loop left.
    gc.collect()
    watchdog = threading.Timer(timeout, _report_hang, (workload, loop_name, timeout))
    watchdog.daemon = True
    watchdog.start()
    # The watchdog needs the GIL; this one does not, for a loop stuck in C
    # code that holds it.
    faulthandler.dump_traceback_later(timeout + 30, exit=True)
    try:
        started = time.perf_counter()
        workload(loop)
        return time.perf_counter() - started
    finally:
        faulthandler.cancel_dump_traceback_later()
        watchdog.cancel()


def _measure(workload, factories, rounds, timeout):
    """Interleaved rounds of one workload on every loop.

    Returns ``(times, failures)``: the seconds of each round per loop, and
    for each loop that failed, its error. A loop that fails once (in the
    untimed warm-up run or in any round) runs no further rounds.
    """
    names = list(factories)
    running = {}
    times = {name: [] for name in names}
    failures = {}
    try:
        for name in names:
            try:
                running[name] = factories[name]()
                _timed_run(workload, name, running[name], timeout)  # warm-up
            except Exception as exc:
                failures[name] = f"warm-up: {type(exc).__name__}: {exc}"
        for round_number in range(rounds):
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                if name in failures:
                    continue
                try:
                    times[name].append(_timed_run(workload, name, running[name], timeout))
                except Exception as exc:
                    failures[name] = (f"round {round_number + 1}: "
                                      f"{type(exc).__name__}: {exc}")
                    times[name] = []
    finally:
        for name, loop in running.items():
            try:
                loop.close()
            except Exception as exc:
                failures.setdefault(name, f"close: {type(exc).__name__}: {exc}")
    return times, failures


def format_number(value):
    """A ratio or a time, to three significant figures at most.

    Public because the echo benchmark (echo/run.py) formats its tables alike.
    """
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _duration(seconds):
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.2f} µs"
    return f"{seconds * 1e9:.0f} ns"


def format_spread(ratios):
    """Median, then lowest and highest, of round-by-round ratios."""
    return (f"×{format_number(statistics.median(ratios))} "
            f"({format_number(min(ratios))}–{format_number(max(ratios))})")


def _ratio_cell(baseline_times, loop_times):
    # Round by round: both times of a ratio were taken moments apart.
    return format_spread([base / mine for base, mine in zip(baseline_times, loop_times)])


def _table(results, loop_names):
    """The Markdown table: ``results`` is [(workload, times, failures)]."""
    compared = [name for name in loop_names if name != loops.BASELINE]
    header = ["workload", "ops per round", "asyncio per op"] + compared
    lines = ["| " + " | ".join(header) + " |",
             "|" + "---|" + "---:|" * (len(header) - 1)]
    for workload, times, failures in results:
        baseline_times = times[loops.BASELINE]
        if loops.BASELINE in failures:
            per_op = "failed"
        else:
            per_op = _duration(statistics.median(baseline_times) / workload.ops)
        row = [workload.name, f"{workload.ops:,} {workload.units}", per_op]
        for name in compared:
            if name in failures:
                row.append("failed")
            elif loops.BASELINE in failures:
                row.append("–")
            else:
                row.append(_ratio_cell(baseline_times, times[name]))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _version(package):
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


# Files written by one install or build step are this close in time.
_BUILD_SLACK_SECONDS = 2.0


def _sources_newer_than_build(fastloop):
    """The .py/.pxd files of compiled hot modules edited since their build.

    Then the compiled column measures older code than the pure one runs.
    """
    from fastloop import _build
    newer = []
    for name in _build.HOT_MODULES:
        module = importlib.import_module(f"fastloop.{name}")
        if not _build.is_compiled(module):
            continue
        built = os.path.getmtime(module.__file__)
        for suffix in (".py", ".pxd"):
            source = os.path.join(os.path.dirname(module.__file__), name + suffix)
            if os.path.exists(source) and os.path.getmtime(source) > built + _BUILD_SLACK_SECONDS:
                newer.append(name + suffix)
    return newer


def describe_machine(loop_names):
    """The header lines of a results table: Python, CPUs, the fastloop build and
    where it came from, the versions of the other loops in ``loop_names``.

    Public because the echo benchmark's servers (echo/server.py) report it too.
    """
    cpus = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cpus
    cpu_text = f"{cpus} CPUs" if usable == cpus else f"{cpus} CPUs ({usable} usable)"
    lines = [f"Python {platform.python_version()} ({platform.python_implementation()}, "
             f"{platform.machine()}), {platform.system()}, {cpu_text}"]
    try:
        import fastloop
    except ImportError:
        lines.append("fastloop: not importable")
    else:
        build = "compiled" if fastloop.COMPILED else "NOT compiled (pure build)"
        lines.append(f"fastloop {fastloop.__version__}: {build}, from "
                     f"{os.path.dirname(fastloop.__file__)}")
        newer = _sources_newer_than_build(fastloop)
        if newer:
            lines.append(f"WARNING: edited since the compiled build: {', '.join(newer)} "
                         f"(rebuild with tools/build-inplace)")
    others = [f"{name} {_version(name)}" for name in ("uvloop", "rloop") if name in loop_names]
    if others:
        lines.append("Compared with: " + ", ".join(others))
    return lines


def main(argv=None):
    args = _parse_args(argv)
    selected = set(args.loops or loops.NAMES) | {loops.BASELINE}
    factories, unavailable = _load_loops(selected)
    if args.only:
        chosen = [workloads.BY_NAME[name] for name in dict.fromkeys(args.only)]
    else:
        chosen = workloads.WORKLOADS
    faulthandler.enable()

    results = []
    for workload in chosen:
        started = time.perf_counter()
        print(f"{workload.name}: {args.rounds} rounds on {', '.join(factories)} ...",
              end="", file=sys.stderr, flush=True)
        times, failures = _measure(workload, factories, args.rounds, args.timeout)
        print(f" {time.perf_counter() - started:.1f} s"
              + (f", FAILED: {', '.join(failures)}" if failures else ""),
              file=sys.stderr, flush=True)
        results.append((workload, times, failures))

    print("\n".join(describe_machine(factories)))
    print(f"Speed relative to stock asyncio (×2.00: twice as fast), median of "
          f"{args.rounds} interleaved rounds, (lowest–highest round).")
    print()
    print(_table(results, list(factories)))
    if unavailable:
        print()
        for name, reason in unavailable.items():
            print(f"Not measured: {name}: {reason}")
    failed = [(workload.name, name, error)
              for workload, _, failures in results for name, error in failures.items()]
    if failed:
        print("\nFailures:")
        for workload_name, name, error in failed:
            print(f"- {workload_name} on {name}: {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
