"""tools/fastloop-as-default: a sitecustomize that makes fastloop the loop
of a whole program (how another project's test suite is run on it)."""

import os
import pathlib
import subprocess
import sys

TOOL = pathlib.Path(__file__).resolve().parent.parent / "tools" / "fastloop-as-default"

PROGRAM = """
import asyncio, unittest

async def running_loop_class():
    return type(asyncio.get_running_loop()).__module__

class Case(unittest.IsolatedAsyncioTestCase):
    async def test(self):
        print(type(asyncio.get_running_loop()).__module__)

print(asyncio.run(running_loop_class()))
with asyncio.Runner() as runner:
    print(runner.run(running_loop_class()))
loop = asyncio.new_event_loop()
print(type(loop).__module__)
loop.close()
unittest.main(argv=["case"], exit=False, verbosity=0)
"""


def loop_modules(**environment):
    env = dict(os.environ, **environment)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TOOL), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", PROGRAM], env=env, capture_output=True,
                            text=True, timeout=60, check=True)
    return result.stdout.split()


def test_every_way_to_get_a_loop_gets_fastloop():
    assert loop_modules() == ["fastloop._loop"] * 4


def test_fastloop_as_default_0_leaves_asyncios_loop():
    assert loop_modules(FASTLOOP_AS_DEFAULT="0") == ["asyncio.unix_events"] * 4
