"""Run a small asyncio program on fastloop: tasks, a timer, a thread hop."""

import asyncio
import time

import fastloop


async def greet(name, delay):
    await asyncio.sleep(delay)
    return f"hello, {name}"


async def main():
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(greet(name, 0.01 * i)) for i, name in enumerate(["asyncio", "world"])]
    for task in tasks:
        print(task.result())
    # Blocking work goes to the default executor; the loop stays free.
    await loop.run_in_executor(None, time.sleep, 0.01)
    build = "compiled" if fastloop.COMPILED else "pure Python"
    print(f"{type(loop).__name__} ({build} build) ran for {loop.time() - started:.3f} s")


if __name__ == "__main__":
    fastloop.run(main())
