"""Which build runs: the compiled extension modules or their Python sources.

Every hot module is one Cython pure-Python-mode source (``_handles.py`` and
its ``.pxd``, ...). Installed with the compiled build, the extension module
sits beside the source; Python's import system prefers the extension. To run
the sources instead, a meta-path finder answers for the hot modules first and
loads the ``.py`` file.

Two uses:

* ``FASTLOOP_PURE=1`` at import makes ``import fastloop`` the pure build.
* ``load_pure_twin()`` loads a second, independent copy of the package from
  source under the name ``_fastloop_pure``, so one process can run the
  compiled build, the pure build and stock asyncio side by side (the test
  suite and the benchmarks do).
"""

import importlib
import importlib.machinery
import importlib.util
import os
import sys

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

# The modules CMakeLists.txt compiles. Keep the two lists in step.
HOT_MODULES = ("_handles", "_timers", "_poller", "_scheduler", "_stream_core", "_socket_ops")

PURE_TWIN_NAME = "_fastloop_pure"


def pure_requested():
    return os.environ.get("FASTLOOP_PURE", "") not in ("", "0")


class _SourceFinder:
    """Loads ``<package>.<hot module>`` from its ``.py`` source.

    Answers for the package itself too when ``package`` is not the real
    name (the pure twin), so the twin's relative imports stay inside it.
    """

    def __init__(self, package):
        self.package = package

    def find_spec(self, fullname, path=None, target=None):
        if fullname == self.package and fullname != __package__:
            source = os.path.join(PACKAGE_DIR, "__init__.py")
            return importlib.util.spec_from_file_location(
                fullname, source, submodule_search_locations=[PACKAGE_DIR])
        prefix = self.package + "."
        if not fullname.startswith(prefix):
            return None
        name = fullname[len(prefix):]
        source = os.path.join(PACKAGE_DIR, name + ".py")
        if name not in HOT_MODULES and fullname.startswith(__package__ + "."):
            return None
        if not os.path.exists(source):
            return None
        return importlib.util.spec_from_file_location(
            fullname, source,
            loader=importlib.machinery.SourceFileLoader(fullname, source))


def install_source_finder(package):
    """Make ``package``'s hot modules load from source from now on."""
    for finder in sys.meta_path:
        if isinstance(finder, _SourceFinder) and finder.package == package:
            return
    sys.meta_path.insert(0, _SourceFinder(package))


def is_compiled(module):
    return not module.__file__.endswith(".py")


def load_pure_twin():
    """Import and return the pure twin of the package (see module doc)."""
    install_source_finder(PURE_TWIN_NAME)
    return importlib.import_module(PURE_TWIN_NAME)
