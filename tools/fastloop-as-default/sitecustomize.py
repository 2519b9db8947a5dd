"""Runs a whole program, or another project's test suite, on fastloop.

Put this directory first on PYTHONPATH: at interpreter start fastloop's
policy becomes the default one, so that asyncio.run(), asyncio.Runner,
asyncio.new_event_loop() and the policy's new_event_loop() (pytest plugins,
IsolatedAsyncioTestCase) all make fastloop loops:

    PYTHONPATH=tools/fastloop-as-default:src python -m pytest ...

FASTLOOP_AS_DEFAULT=0 leaves asyncio's own loop in place (the same command,
for the stock run to compare with); FASTLOOP_PURE=1 selects the pure build.
Code that names a loop class (asyncio.SelectorEventLoop) still gets it.
"""

import os

if os.environ.get("FASTLOOP_AS_DEFAULT", "1") != "0":
    import asyncio
    import warnings

    import fastloop

    with warnings.catch_warnings():
        # 3.14 deprecates setting a policy.
        warnings.simplefilter("ignore", DeprecationWarning)
        asyncio.set_event_loop_policy(fastloop.EventLoopPolicy())
