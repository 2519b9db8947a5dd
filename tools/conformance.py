#!/usr/bin/env python3
"""Run CPython's own test.test_asyncio against fastloop; report what differs.

    PYTHONPATH=src python tools/conformance.py [MODULE ...] [--pure] [-j N] [--json]

Every module runs twice, each time in its own subprocess of the Python running
this script: once on stock asyncio (the baseline) and once with fastloop
installed as the default loop. A test that passes on the baseline and does not
pass on fastloop is a difference. Differences listed in
``tests/conformance_accepted.toml`` (the test reads or mocks asyncio's private
internals) or ``tests/conformance_not_yet.toml`` (it needs a feature a later
issue brings) are expected; any other is unexplained, and the exit status is 1.
See docs/conformance.md for how fastloop is installed and how to read the output.

The same file is the child: ``--child MODULE --mode baseline|fastloop`` runs
one module and writes one JSON line per event to ``--events FILE``.
"""

import argparse
import concurrent.futures
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACCEPTED_FILE = os.path.join(REPO, "tests", "conformance_accepted.toml")
NOT_YET_FILE = os.path.join(REPO, "tests", "conformance_not_yet.toml")

#: The modules of the core-loop issue: what the loop implements today.
ISSUE_MODULES = (
    "test_events", "test_tasks", "test_futures", "test_runners", "test_timeouts",
    "test_taskgroups", "test_eager_task_factory", "test_waitfor",
)

#: Cheap extras that also run only what the core loop implements.
EXTRA_MODULES = (
    "test_locks", "test_queues", "test_pep492", "test_context",
    "test_futures2", "test_threads", "test_staggered",
    # The sockets issue, so far: the low-level sock_* API, streams over TCP
    # and Unix transports, sendfile.
    "test_sock_lowlevel", "test_streams", "test_sendfile", "test_server",
    "test_buffered_proto",
)

DEFAULT_MODULES = ISSUE_MODULES + EXTRA_MODULES

#: Test ids are written relative to this package.
PACKAGE = "test.test_asyncio"

#: test_events runs its loop tests once per selector class. The fastloop run
#: replaces them with one class; its tests compare against the epoll class,
#: which is what stock asyncio uses on Linux.
FASTLOOP_CLASS_BASELINE = {
    "test_events.FastloopEventLoopTests": "test_events.EPollEventLoopTests",
    "test_sock_lowlevel.FastloopEventLoopTests": "test_sock_lowlevel.EPollEventLoopTests",
    "test_sendfile.FastloopEventLoopTests": "test_sendfile.EPollEventLoopTests",
}

PASSED = "pass"

#: What the install check expects every way of getting a loop to return.
FASTLOOP_LOOP_CLASS = "fastloop._loop.Loop"


# =====================================================================
# Child: run one module and record every test
# =====================================================================

class LoopCensus:
    """Counts the event loops each test creates, by kind.

    ``fastloop``: a fastloop Loop; ``TestLoop``: asyncio's test loop with a
    fake clock (test_asyncio.utils.TestLoop); ``asyncio.<Class>``: any other
    stock loop. Loops created outside any test (class or module fixtures)
    are counted in ``fixtures``.
    """

    def __init__(self, fastloop_class):
        from test.test_asyncio import utils as test_utils
        self.fastloop_class = fastloop_class
        self.test_loop_class = test_utils.TestLoop
        self.current = None
        self.fixtures = {}

    def kind(self, loop):
        if self.fastloop_class is not None and isinstance(loop, self.fastloop_class):
            return "fastloop"
        if isinstance(loop, self.test_loop_class):
            return "TestLoop"
        return "asyncio." + type(loop).__name__

    def record(self, loop):
        bucket = self.current if self.current is not None else self.fixtures
        kind = self.kind(loop)
        bucket[kind] = bucket.get(kind, 0) + 1

    def wrap_init(self, cls):
        original = cls.__dict__["__init__"]
        census = self

        def __init__(self, *args, **kwargs):
            census.record(self)
            original(self, *args, **kwargs)

        __init__.__wrapped__ = original
        cls.__init__ = __init__

    def install(self):
        from asyncio import base_events
        self.wrap_init(base_events.BaseEventLoop)
        if self.fastloop_class is not None:
            self.wrap_init(self.fastloop_class)


def _default_policy_class():
    import asyncio
    if sys.version_info >= (3, 14):
        from asyncio import unix_events
        return unix_events._DefaultEventLoopPolicy
    return asyncio.DefaultEventLoopPolicy


def install_fastloop():
    """Make every way a test obtains a loop without naming a class give a
    fastloop loop; return fastloop.

    ``asyncio.new_event_loop()``, ``get_event_loop()``, ``asyncio.run()``,
    ``asyncio.Runner()`` and ``IsolatedAsyncioTestCase`` all ask the current
    policy's ``new_event_loop()``, which calls ``_loop_factory``. Patching the
    default policy class (not installing one policy instance) survives
    ``set_event_loop_policy(None)`` and ``DefaultEventLoopPolicy()`` in tests.
    """
    import asyncio
    import fastloop
    _default_policy_class()._loop_factory = staticmethod(fastloop.new_event_loop)
    asyncio.set_event_loop_policy(None)
    return fastloop


def check_installed(fastloop):
    """The install sanity check: each public way to get a loop, tried once."""
    import asyncio
    import warnings
    checks = {}

    def probe(name, make):
        try:
            loop = make()
        except Exception as exc:  # the report shows it; the run goes on
            checks[name] = f"error: {exc!r}"
            return
        checks[name] = type(loop).__module__ + "." + type(loop).__qualname__
        if not isinstance(loop, fastloop.Loop):
            checks[name] += " (NOT fastloop)"
        if not loop.is_closed() and not loop.is_running():
            loop.close()

    def get_event_loop():
        # Before asyncio.run(): once a loop was set, 3.12+ no longer
        # creates one here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            loop = asyncio.get_event_loop()
        asyncio.set_event_loop(None)
        return loop
    probe("asyncio.get_event_loop", get_event_loop)
    probe("asyncio.new_event_loop", asyncio.new_event_loop)
    probe("asyncio.events.new_event_loop", asyncio.events.new_event_loop)
    probe("policy.new_event_loop", lambda: asyncio.get_event_loop_policy().new_event_loop())
    probe("DefaultEventLoopPolicy().new_event_loop",
          lambda: _default_policy_class()().new_event_loop())

    def runner_loop():
        with asyncio.Runner() as runner:
            return runner.get_loop()
    probe("asyncio.Runner", runner_loop)

    def run_loop():
        async def main():
            return asyncio.get_running_loop()
        return asyncio.run(main())
    probe("asyncio.run", run_loop)

    asyncio.set_event_loop_policy(None)
    return checks


def stale_extensions(fastloop):
    """Compiled modules older than their source: the run tests old code."""
    import importlib
    from fastloop import _build
    stale = []
    if not fastloop.COMPILED:
        return stale
    for name in _build.HOT_MODULES:
        module = importlib.import_module(f"fastloop.{name}")
        source = os.path.join(_build.PACKAGE_DIR, name + ".py")
        if os.path.getmtime(module.__file__) < os.path.getmtime(source):
            stale.append(name)
    return stale


# -- per-module adaptations -------------------------------------------------
#
# Where a module builds its loops from a named class instead of asking
# asyncio for one, the fastloop run substitutes a fastloop loop at that spot.
# Each adapter says what it replaces and why that keeps the test's meaning.

def _adapt_selector_loop_classes(module, mode, fastloop):
    # test_events' EventLoopTestsMixin, test_sock_lowlevel's
    # BaseSockTestsMixin and test_sendfile's mixins run once per selector
    # class, each class's
    # create_event_loop() naming asyncio.SelectorEventLoop(selector). The
    # fastloop run adds one class whose create_event_loop() returns a
    # fastloop loop and drops the selector classes (they would only test
    # stock asyncio again); the baseline keeps the epoll class only, which
    # is the one the fastloop class is compared with.
    selector_classes = ("KqueueEventLoopTests", "EPollEventLoopTests",
                        "PollEventLoopTests", "SelectEventLoopTests")
    if mode == "fastloop":
        base = module.EPollEventLoopTests

        def create_event_loop(self):
            return fastloop.new_event_loop()

        module.FastloopEventLoopTests = type("FastloopEventLoopTests", (base,), {
            "create_event_loop": create_event_loop,
            "__module__": module.__name__,
            "__qualname__": "FastloopEventLoopTests",
        })
        for name in selector_classes:
            if hasattr(module, name):
                delattr(module, name)
    else:
        for name in selector_classes:
            if name != "EPollEventLoopTests" and hasattr(module, name):
                delattr(module, name)


def _adapt_test_runners(module, mode, fastloop):
    # BaseTest.new_loop() makes a runnable BaseEventLoop by mocking its
    # private _selector, _process_events and _write_to_self; the test only
    # needs a loop whose shutdown_asyncgens() records that it ran (a public
    # method, replaced on the instance exactly as the original does).
    if mode != "fastloop":
        return

    def new_loop(self):
        loop = fastloop.new_event_loop()
        loop.shutdown_ag_run = False

        async def shutdown_asyncgens():
            loop.shutdown_ag_run = True
        loop.shutdown_asyncgens = shutdown_asyncgens
        return loop

    module.BaseTest.new_loop = new_loop


def _adapt_test_pep492(module, mode, fastloop):
    # BaseTest.setUp() makes a runnable BaseEventLoop by mocking its private
    # _selector and _process_events; a real fastloop loop replaces it.
    if mode != "fastloop":
        return
    base = module.BaseTest

    def setUp(self):
        super(base, self).setUp()
        self.loop = fastloop.new_event_loop()
        self.set_event_loop(self.loop)

    base.setUp = setUp


def _adapt_selector_new_loop(module, mode, fastloop):
    # test_server's and test_buffered_proto's selector classes build their
    # loop in new_loop() as asyncio.SelectorEventLoop(); the fastloop run
    # makes it a fastloop loop, the tests themselves unchanged.
    if mode != "fastloop":
        return
    for name in ("SelectorStartServerTests", "BufferedProtocolSelectorTests"):
        test_class = getattr(module, name, None)
        if test_class is not None:
            test_class.new_loop = lambda self: fastloop.new_event_loop()


MODULE_ADAPTERS = {
    "test_events": _adapt_selector_loop_classes,
    "test_sock_lowlevel": _adapt_selector_loop_classes,
    "test_sendfile": _adapt_selector_loop_classes,
    "test_server": _adapt_selector_new_loop,
    "test_buffered_proto": _adapt_selector_new_loop,
    "test_runners": _adapt_test_runners,
    "test_pep492": _adapt_test_pep492,
}


# -- recording ---------------------------------------------------------------

def short_id(test_id):
    prefix = PACKAGE + "."
    if test_id.startswith(prefix):
        return test_id[len(prefix):]
    # Fixture errors: "setUpClass (test.test_asyncio.test_x.Class)".
    return test_id.replace("(" + prefix, "(")


class EventWriter:
    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def write(self, **event):
        self.file.write(json.dumps(event) + "\n")
        self.file.flush()


def _recording_result_class():
    import unittest

    class RecordingResult(unittest.TestResult):
        """Writes a start event before and an end event after each test.

        A test whose start has no end hung or crashed the process: the
        parent sees that and resumes after it.
        """

        def __init__(self, events, census, test_timeout):
            super().__init__()
            self.buffer = True
            self.events = events
            self.census = census
            self.test_timeout = test_timeout
            self.state = None

        def startTest(self, test):
            import faulthandler
            if self.test_timeout:
                # Before startTest: buffering replaces sys.stderr.
                faulthandler.dump_traceback_later(self.test_timeout, exit=True,
                                                  file=sys.__stderr__)
            super().startTest(test)
            self.state = {"id": short_id(test.id()), "outcome": None,
                          "message": "", "traceback": "", "subtest_failures": 0,
                          "started": time.monotonic()}
            self.census.current = {}
            self.events.write(event="start", id=self.state["id"])

        def stopTest(self, test):
            import faulthandler
            if self.test_timeout:
                faulthandler.cancel_dump_traceback_later()
            # What a passing test printed (warnings, logged errors): unittest
            # drops it when it restores the streams.
            output = "".join(buffer.getvalue() for buffer in (
                getattr(self, "_stdout_buffer", None), getattr(self, "_stderr_buffer", None))
                if buffer is not None)
            super().stopTest(test)
            state = self.state
            if state is None:
                return
            if state["outcome"] is None:
                state["outcome"] = "fail" if state["subtest_failures"] else PASSED
            self.events.write(
                event="end", id=state["id"], outcome=state["outcome"],
                message=state["message"], traceback=state["traceback"],
                loops=self.census.current, output=output[-2000:],
                seconds=round(time.monotonic() - state["started"], 3))
            self.census.current = None
            self.state = None

        def _set(self, test, outcome, err=None, message=None):
            if message is None and err is not None:
                exc = err[1]
                message = f"{type(exc).__name__}: {exc}"
            traceback = self._exc_info_to_string(err, test) if err is not None else ""
            if self.state is None or self.state["id"] != short_id(test.id()):
                # Class and module fixtures report without startTest.
                self.events.write(event="end", id=short_id(test.id()), outcome=outcome,
                                  message=_clip(message or ""), traceback=traceback,
                                  loops={}, seconds=0)
                return
            if self.state["outcome"] in (None, PASSED):
                self.state["outcome"] = outcome
                self.state["message"] = _clip(message or "")
                self.state["traceback"] = traceback

        def addSuccess(self, test):
            super().addSuccess(test)
            self._set(test, PASSED)

        def addFailure(self, test, err):
            super().addFailure(test, err)
            self._set(test, "fail", err)

        def addError(self, test, err):
            super().addError(test, err)
            self._set(test, "error", err)

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            self._set(test, "skip", message=reason)

        def addExpectedFailure(self, test, err):
            super().addExpectedFailure(test, err)
            self._set(test, "xfail", err)

        def addUnexpectedSuccess(self, test):
            super().addUnexpectedSuccess(test)
            self._set(test, "upass", message="unexpected success")

        def addSubTest(self, test, subtest, err):
            super().addSubTest(test, subtest, err)
            if err is None or self.state is None:
                return
            self.state["subtest_failures"] += 1
            if self.state["subtest_failures"] == 1:
                exc = err[1]
                self.state["message"] = _clip(
                    f"{subtest._subDescription()}: {type(exc).__name__}: {exc}")
                self.state["traceback"] = self._exc_info_to_string(err, test)

    return RecordingResult


def _clip(text, limit=400):
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _filter_suite(suite, keep):
    """Drop, in place, every test for which ``keep(short id)`` is false."""
    import unittest
    kept = []
    for test in suite:
        if isinstance(test, unittest.TestSuite):
            _filter_suite(test, keep)
            kept.append(test)
        elif keep(short_id(test.id())):
            kept.append(test)
    suite._tests = kept


def child_main(args):
    import importlib
    import unittest
    import warnings

    events = EventWriter(args.events)
    fastloop = None
    fastloop_class = None
    if args.mode == "fastloop":
        fastloop = install_fastloop()
        fastloop_class = fastloop.Loop
        events.write(event="install", compiled=fastloop.COMPILED, path=fastloop.__file__,
                     checks=check_installed(fastloop),
                     stale_extensions=stale_extensions(fastloop))
    census = LoopCensus(fastloop_class)
    census.install()

    name = f"{PACKAGE}.{args.child}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        # A module this Python's test package does not have (yet).
        events.write(event="missing", message=str(exc))
        return 0
    adapter = MODULE_ADAPTERS.get(args.child)
    if adapter is not None:
        adapter(module, args.mode, fastloop)

    suite = unittest.defaultTestLoader.loadTestsFromModule(module)
    skip = set()
    if args.skip:
        with open(args.skip, encoding="utf-8") as file:
            skip = set(file.read().split())
    only = None
    if args.only:
        with open(args.only, encoding="utf-8") as file:
            only = set(file.read().split())
    _filter_suite(suite, lambda test_id: test_id not in skip
                  and (only is None or test_id in only))

    result = _recording_result_class()(events, census, args.test_timeout)
    # As unittest.main() runs tests: warnings shown once per place.
    with warnings.catch_warnings():
        if not sys.warnoptions:
            warnings.simplefilter("default")
        suite.run(result)
    events.write(event="done", fixture_loops=census.fixtures)
    return 0


# =====================================================================
# Parent: run children, compare, report
# =====================================================================

def python_tag():
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def read_events(path):
    records = []
    try:
        with open(path, encoding="utf-8") as file:
            for line in file:
                line = line.strip()
                if line:
                    try:
                        records.append(json.loads(line))
                    except ValueError:
                        pass  # a line cut by a kill
    except FileNotFoundError:
        pass
    return records


class ModuleRun:
    """One module in one mode: every test's outcome, resumed past hangs."""

    def __init__(self, module, mode):
        self.module = module
        self.mode = mode
        self.tests = {}          # id -> end event
        self.install = None
        self.missing = None
        self.fixture_loops = {}
        self.incidents = []      # hangs, crashes, module timeout
        self.seconds = 0.0
        self.complete = False


# The children running now, so that an interrupted run ends them too.
_children = set()
_interrupted = threading.Event()


def _kill(process):
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def run_module(module, mode, options, only=None, tag=""):
    """Run ``module`` in ``mode`` in child processes until every test has an
    outcome or the module's time is up."""
    run = ModuleRun(module, mode)
    workdir = os.path.join(options.out_dir, f"{mode}{tag}")
    os.makedirs(workdir, exist_ok=True)
    events_path = os.path.join(workdir, f"{module}.jsonl")
    log_path = os.path.join(workdir, f"{module}.log")
    skip_path = os.path.join(workdir, f"{module}.skip")
    only_path = os.path.join(workdir, f"{module}.only")
    for path in (events_path, log_path):
        if os.path.exists(path):
            os.remove(path)
    env = dict(os.environ)
    # The children import the fastloop this process finds (installed, as in
    # CI, or on the caller's PYTHONPATH), else the checkout's sources; by
    # absolute path, since they run in another directory.
    spec = importlib.util.find_spec("fastloop")
    if spec is not None and spec.origin:
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(spec.origin)))
    else:
        package_root = os.path.join(REPO, "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    env["PYTHONFAULTHANDLER"] = "1"
    if mode == "fastloop" and options.pure:
        env["FASTLOOP_PURE"] = "1"
    else:
        env.pop("FASTLOOP_PURE", None)

    started = time.monotonic()
    skip = set(options.skip_ids) if mode == "fastloop" else set()
    attempts = 0
    while True:
        attempts += 1
        with open(skip_path, "w", encoding="utf-8") as file:
            file.write("\n".join(sorted(skip)))
        command = [sys.executable, os.path.abspath(__file__), "--child", module,
                   "--mode", mode, "--events", events_path, "--skip", skip_path,
                   "--test-timeout", str(options.test_timeout)]
        if only is not None:
            with open(only_path, "w", encoding="utf-8") as file:
                file.write("\n".join(sorted(only)))
            command += ["--only", only_path]
        remaining = options.timeout - (time.monotonic() - started)
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(f"=== attempt {attempts}: {' '.join(command)}\n")
            log.flush()
            # A session of its own: a timeout ends the child and whatever
            # processes its tests started, and nothing else.
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=env, cwd=workdir,
                                       start_new_session=True)
            _children.add(process)
            try:
                returncode = process.wait(timeout=max(remaining, 1))
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill(process)
                returncode = process.returncode
                timed_out = True
            finally:
                _children.discard(process)

        open_test = None
        done = False
        for event in read_events(events_path):
            kind = event.get("event")
            if kind == "start":
                open_test = event["id"]
            elif kind == "end":
                run.tests[event["id"]] = event
                if event["id"] == open_test:
                    open_test = None
            elif kind == "install":
                run.install = event
            elif kind == "missing":
                run.missing = event["message"]
            elif kind == "done":
                done = True
                run.fixture_loops = event.get("fixture_loops", {})
        if done or run.missing:
            run.complete = True
            break
        if _interrupted.is_set():
            break
        if timed_out:
            run.incidents.append(f"module timeout ({options.timeout:g}s) during {open_test}")
            if open_test is not None:
                run.tests[open_test] = {"id": open_test, "outcome": "timeout",
                                        "message": "killed at the module timeout",
                                        "traceback": "", "loops": {}}
            break
        if open_test is None:
            run.incidents.append(f"child exited with status {returncode} outside any test; "
                                 f"see {log_path}")
            break
        # The test that was running hung (faulthandler's per-test timeout
        # ended the process) or crashed it: record it, resume after it.
        with open(log_path, encoding="utf-8", errors="replace") as log:
            tail = log.read()[-4000:]
        if returncode is not None and returncode < 0:
            outcome, message = "crash", f"process killed by signal {-returncode}"
        elif "Timeout (" in tail:
            outcome, message = "timeout", f"no result after {options.test_timeout:g}s"
        else:
            outcome, message = "crash", f"process exited with status {returncode}"
        run.incidents.append(f"{open_test}: {message}")
        run.tests[open_test] = {"id": open_test, "outcome": outcome, "message": message,
                                "traceback": tail, "loops": {}}
        skip |= set(run.tests)
    run.seconds = round(time.monotonic() - started, 2)
    return run


# -- expectations ------------------------------------------------------------

def _load_toml(path):
    import tomllib
    if not os.path.exists(path):
        return {}
    with open(path, "rb") as file:
        return tomllib.load(file)


class Expectations:
    """The accepted differences and the not-yet-implemented ones.

    ``accepted``: ``[[accepted]]`` tables, one test each (``test``, ``private``,
    ``reason``). ``not_yet``: ``[[not_yet]]`` groups (``waits_for``, ``reason``,
    ``expect``, ``tests``). Either may carry ``python = ["3.12", ...]`` to
    apply on those versions only.
    """

    def __init__(self, accepted_path=ACCEPTED_FILE, not_yet_path=NOT_YET_FILE,
                 skip_not_yet=False):
        self.accepted = {}   # id -> entry
        self.not_yet = {}    # id -> group
        for entry in _load_toml(accepted_path).get("accepted", []):
            if self._applies(entry):
                self.accepted[entry["test"]] = entry
        for group in _load_toml(not_yet_path).get("not_yet", []):
            if self._applies(group):
                for test_id in group["tests"]:
                    self.not_yet[test_id] = group
        # The not-yet tests the fastloop run leaves out (--skip-not-yet).
        self.skipped = frozenset(self.not_yet) if skip_not_yet else frozenset()

    @staticmethod
    def _applies(entry):
        pythons = entry.get("python")
        return not pythons or python_tag() in pythons


# -- comparison --------------------------------------------------------------

def loop_category(loops):
    """Which loop a test ran on, from the loops it created."""
    kinds = set(loops or ())
    if "fastloop" in kinds:
        return "fastloop" if kinds == {"fastloop"} else "mixed"
    if "TestLoop" in kinds:
        return "TestLoop"
    if kinds:
        return "stock"
    return "none"


def baseline_id(test_id):
    for fastloop_class, baseline_class in FASTLOOP_CLASS_BASELINE.items():
        if test_id.startswith(fastloop_class + "."):
            return baseline_class + test_id[len(fastloop_class):]
    return test_id


def _difference(test_id, result):
    return {"id": test_id, "outcome": result["outcome"], "message": result["message"],
            "loop": loop_category(result.get("loops")),
            "traceback": result.get("traceback", "")}


def compare(module, baseline, fastloop, expectations, reruns=None):
    """The per-module report: counts, differences by kind, stale entries.

    ``reruns``: outcomes of a second fastloop run of the unexplained
    failures; one that passed there is flaky, not unexplained.
    """
    report = {
        "module": module,
        "missing": baseline.missing or fastloop.missing,
        "seconds": {"baseline": baseline.seconds, "fastloop": fastloop.seconds},
        "incidents": {"baseline": baseline.incidents, "fastloop": fastloop.incidents},
        "incomplete": not (baseline.complete and fastloop.complete),
        "install": fastloop.install,
        "fixture_loops": fastloop.fixture_loops,
        "counts": {}, "loops": {},
        "unexplained": [], "flaky": [], "accepted": [], "not_yet": [],
        "stale_accepted": [], "stale_not_yet": [],
    }
    if report["missing"]:
        return report
    loops = dict.fromkeys(("fastloop", "mixed", "TestLoop", "stock", "none"), 0)
    fastloop_pass = passed_on_fastloop_loop = 0
    # Every test the baseline passed, under the id the fastloop run gives it.
    expected_ids = {test_id for test_id, result in baseline.tests.items()
                    if result["outcome"] == PASSED}
    for fastloop_class, baseline_class in FASTLOOP_CLASS_BASELINE.items():
        renamed = {t for t in expected_ids if t.startswith(baseline_class + ".")}
        expected_ids -= renamed
        expected_ids |= {fastloop_class + t[len(baseline_class):] for t in renamed}
    # Errors the baseline does not have at all: a class or module fixture
    # (setUpClass, setUpModule) that fails on fastloop only.
    expected_ids |= {test_id for test_id, result in fastloop.tests.items()
                     if result["outcome"] in ("fail", "error")
                     and baseline_id(test_id) not in baseline.tests}

    for test_id, result in fastloop.tests.items():
        category = loop_category(result.get("loops"))
        loops[category] += 1
        if result["outcome"] == PASSED:
            fastloop_pass += 1
            passed_on_fastloop_loop += category in ("fastloop", "mixed")
            if test_id in expectations.accepted:
                report["stale_accepted"].append(test_id)
            elif test_id in expectations.not_yet:
                report["stale_not_yet"].append(test_id)

    for test_id in sorted(expected_ids):
        result = fastloop.tests.get(test_id)
        if result is None and test_id in expectations.skipped:
            result = {"outcome": "not run", "loops": {},
                      "message": "not run: --skip-not-yet"}
        elif result is None:
            result = {"outcome": "not run", "loops": {},
                      "message": "passed on stock asyncio; the fastloop run never reached it"}
        if result["outcome"] == PASSED:
            continue
        difference = _difference(test_id, result)
        accepted = expectations.accepted.get(test_id)
        group = expectations.not_yet.get(test_id)
        if accepted is not None:
            difference["reason"] = accepted.get("private", "")
            report["accepted"].append(difference)
        elif group is not None and (test_id in expectations.skipped
                                    or group.get("expect", "") in result["message"]):
            difference["reason"] = group.get("waits_for", "")
            report["not_yet"].append(difference)
        elif reruns is not None and reruns.get(test_id, {}).get("outcome") == PASSED:
            report["flaky"].append(difference)
        else:
            if group is not None:
                difference["message"] = (f"listed as not yet implemented, but the failure "
                                         f"is not {group['expect']!r}: {difference['message']}")
            report["unexplained"].append(difference)

    report["counts"] = {
        "run": len(fastloop.tests),
        "baseline_pass": sum(1 for r in baseline.tests.values() if r["outcome"] == PASSED),
        "fastloop_pass": fastloop_pass,
        "fastloop_pass_on_fastloop_loop": passed_on_fastloop_loop,
        "accepted": len(report["accepted"]),
        "not_yet": len(report["not_yet"]),
        "flaky": len(report["flaky"]),
        "unexplained": len(report["unexplained"]),
    }
    report["loops"] = loops
    return report


def install_problems(report, options):
    """What is wrong with how fastloop was installed in a module's run."""
    install = report.get("install")
    if report["missing"]:
        return []
    if install is None:
        return ["the fastloop run reported no install check"]
    problems = [f"{way} gave {result}" for way, result in install["checks"].items()
                if result != FASTLOOP_LOOP_CLASS]
    if install["compiled"] == options.pure:
        wanted = "pure" if options.pure else "compiled"
        problems.append(f"the {wanted} build was asked for, but the other one ran "
                        f"(compiled={install['compiled']})")
    return problems


# -- output --------------------------------------------------------------------

def source_state():
    """The commit the fastloop sources are at, and whether they differ from it."""
    def git(*args):
        try:
            return subprocess.run(["git", "-C", REPO, *args], capture_output=True,
                                  text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "src_modified": bool(git("status", "--porcelain", "--", "src"))}


def format_text(result, options):
    reports = result["modules"]
    source = result["source"]
    lines = [f"fastloop conformance: Python {result['python']}, fastloop {result['build']} "
             f"build, commit {source['commit']}"
             f"{' + uncommitted changes in src/' if source['src_modified'] else ''}",
             "",
             f"{'module':<25}{'run':>5}{'base':>6}{'fast':>6}{'on-fl':>7}{'acc':>5}"
             f"{'n-y':>5}{'flaky':>6}{'UNEXP':>6}   ran on: fastloop/mixed/TestLoop/stock/none"]
    for report in reports:
        if report["missing"]:
            lines.append(f"{report['module']:<25}  (not in this Python's test package)")
            continue
        c, l = report["counts"], report["loops"]
        lines.append(
            f"{report['module']:<25}{c['run']:>5}{c['baseline_pass']:>6}{c['fastloop_pass']:>6}"
            f"{c['fastloop_pass_on_fastloop_loop']:>7}{c['accepted']:>5}{c['not_yet']:>5}"
            f"{c['flaky']:>6}{c['unexplained']:>6}   "
            f"{l['fastloop']}/{l['mixed']}/{l['TestLoop']}/{l['stock']}/{l['none']}")
    lines.append("")
    stale = sorted({name for r in reports if r.get("install")
                    for name in r["install"].get("stale_extensions", ())})
    if stale:
        lines.append(f"WARNING: compiled {', '.join(stale)} older than the source: "
                     f"this run tests old code (tools/build-inplace rebuilds)")
    for report in reports:
        for problem in install_problems(report, options):
            lines.append(f"INSTALL PROBLEM ({report['module']}): {problem}")
        for mode, incidents in report["incidents"].items():
            for incident in incidents:
                lines.append(f"incident ({mode} run of {report['module']}): {incident}")
    sections = [("UNEXPLAINED: passes on stock asyncio, not on fastloop", "unexplained"),
                ("Flaky on fastloop: failed, then passed when rerun", "flaky")]
    if options.verbose:
        sections += [("Accepted (reads or mocks asyncio internals)", "accepted"),
                      ("Not implemented yet", "not_yet")]
    for title, key in sections:
        items = [d for r in reports for d in r[key]]
        if not items:
            continue
        lines.append(f"{title}: {len(items)}")
        for difference in items:
            lines.append(f"  {difference['id']}  [{difference['outcome']}; "
                         f"ran on {difference['loop']}]")
            detail = difference.get("reason") or difference["message"]
            if detail:
                lines.append(f"      {detail}")
        lines.append("")
    for key, title in (("stale_accepted", "listed as accepted"),
                       ("stale_not_yet", "listed as not yet implemented")):
        items = [t for r in reports for t in r[key]]
        if items:
            lines.append(f"Passing now, but {title} (remove the entries): {len(items)}")
            lines.extend(f"  {t}" for t in items)
            lines.append("")
    lines.append(f"{result['unexplained']} unexplained difference(s); "
                 f"wall time {result['wall_seconds']:.1f}s; logs in {options.out_dir}")
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------

def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Run CPython's test.test_asyncio on stock asyncio and on fastloop; "
                    "list the tests that pass on the first and not on the second.",
        epilog="Exit status: 0 all explained, 1 unexplained differences, "
               "2 the run itself went wrong (install check, module crash or timeout).")
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help="test_asyncio modules (default: the core-loop issue's "
                             f"{', '.join(ISSUE_MODULES)}; then {', '.join(EXTRA_MODULES)})")
    parser.add_argument("--pure", action="store_true",
                        help="run fastloop's pure-Python build (FASTLOOP_PURE=1)")
    parser.add_argument("--json", action="store_true",
                        help="print the report as JSON (progress still goes to stderr)")
    parser.add_argument("-j", "--jobs", type=int, default=2,
                        help="module runs at once (default: 2)")
    parser.add_argument("--timeout", type=float, default=600,
                        help="seconds for one module in one mode, all attempts (default: 600)")
    parser.add_argument("--test-timeout", type=float, default=120,
                        help="seconds one test may run before it counts as hung (default: 120)")
    parser.add_argument("--reruns", type=int, default=1,
                        help="rerun unexplained failures this many times on fastloop; "
                             "one that passes then is reported as flaky (default: 1)")
    parser.add_argument("--skip-not-yet", action="store_true",
                        help="do not run the tests of tests/conformance_not_yet.toml on "
                             "fastloop (by default they run, so a stale entry shows)")
    parser.add_argument("--strict", action="store_true",
                        help="count flaky differences and stale entries as failures")
    parser.add_argument("--out-dir", default=None,
                        help="where the runs keep their events and logs "
                             "(default: build/conformance/pyX.Y-<build>)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list the accepted and not-yet differences")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("baseline", "fastloop"), help=argparse.SUPPRESS)
    parser.add_argument("--events", help=argparse.SUPPRESS)
    parser.add_argument("--skip", help=argparse.SUPPRESS)
    parser.add_argument("--only", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_all(modules, options):
    expectations = Expectations(skip_not_yet=options.skip_not_yet)
    options.skip_ids = expectations.skipped
    started = time.monotonic()
    runs = {}
    jobs = [(module, mode) for module in modules for mode in ("baseline", "fastloop")]
    pool = concurrent.futures.ThreadPoolExecutor(max(1, options.jobs))
    try:
        futures = {pool.submit(run_module, module, mode, options): (module, mode)
                   for module, mode in jobs}
        for future in concurrent.futures.as_completed(futures):
            module, mode = futures[future]
            run = runs[module, mode] = future.result()
            status = "not here" if run.missing else f"{len(run.tests):>5} tests"
            print(f"  {mode:<9} {module:<25} {status} {run.seconds:>7.1f}s",
                  file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        # The children have sessions of their own: Ctrl-C does not reach them.
        _interrupted.set()
        pool.shutdown(wait=False, cancel_futures=True)
        for process in list(_children):
            _kill(process)
        raise
    pool.shutdown()

    reports = []
    for module in modules:
        baseline, fastloop = runs[module, "baseline"], runs[module, "fastloop"]
        report = compare(module, baseline, fastloop, expectations)
        for attempt in range(1, options.reruns + 1):
            failing = {d["id"] for d in report["unexplained"] if d["outcome"] in ("fail", "error")}
            if not failing:
                break
            rerun = run_module(module, "fastloop", options, only=failing, tag=f"-rerun{attempt}")
            report = compare(module, baseline, fastloop, expectations, reruns=rerun.tests)
        reports.append(report)

    unexplained = sum(len(r["unexplained"]) for r in reports)
    strict_failures = sum(len(r["flaky"]) + len(r["stale_accepted"]) + len(r["stale_not_yet"])
                          for r in reports)
    broken = [r["module"] for r in reports
              if install_problems(r, options) or r["incomplete"] and not r["missing"]
              or r["incidents"]["baseline"]]
    if broken:
        status = 2
    elif unexplained or (options.strict and strict_failures):
        status = 1
    else:
        status = 0
    return {
        "python": sys.version.split()[0],
        "build": "pure" if options.pure else "compiled",
        "source": source_state(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "unexplained": unexplained,
        "broken_runs": broken,
        "status": status,
        "modules": reports,
    }


def main(argv=None):
    options = parse_args(argv)
    if options.child:
        return child_main(options)
    if options.out_dir is None:
        build = "pure" if options.pure else "compiled"
        options.out_dir = os.path.join(REPO, "build", "conformance", f"py{python_tag()}-{build}")
    os.makedirs(options.out_dir, exist_ok=True)
    result = run_all(options.modules or list(DEFAULT_MODULES), options)
    if options.json:
        json.dump(result, sys.stdout, indent=1)
        print()
    else:
        print(format_text(result, options))
    return result["status"]


if __name__ == "__main__":
    sys.exit(main())
