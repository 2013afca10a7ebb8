"""A TCP proxy that adds latency on demand (the Toxiproxy pattern, in the standard library).

The kernel of the machines this stack runs on has no netem, so latency faults come from a
proxy that always sits in the data path and adds nothing until told to. The harness writes
"<delay_ms> <jitter_ms>" into CONTROL with `docker exec`; every chunk that
the upstream sends is then held back that long, in order (a chunk never overtakes the one
before it), as netem on the upstream's egress would.
"""

import asyncio
import contextlib
import os
import random
import sys
import time

LISTEN_PORT = int(os.environ.get("LISTEN_PORT", "5432"))
UPSTREAM_HOST = os.environ.get("UPSTREAM_HOST", "db")
UPSTREAM_PORT = int(os.environ.get("UPSTREAM_PORT", "5432"))
CONTROL = "/run/devsim-proxy/latency"

delay = [0.0, 0.0]  # seconds: delay, jitter


async def watch_control() -> None:
    last = None
    while True:
        try:
            with open(CONTROL) as fh:
                text = fh.read().split()
            value = (float(text[0]) / 1000, float(text[1]) / 1000 if len(text) > 1 else 0.0)
        except (OSError, ValueError, IndexError):
            value = (0.0, 0.0)
        if value != last:
            delay[0], delay[1] = value
            print(f"latency now {value[0] * 1000:g} ms +/- {value[1] * 1000:g} ms", flush=True)
            last = value
        await asyncio.sleep(0.2)


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool) -> None:
    queue: asyncio.Queue = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    sender = asyncio.create_task(deliver())
    last_due = 0.0
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            extra = 0.0
            if delayed and (delay[0] or delay[1]):
                extra = max(0.0, delay[0] + (random.uniform(-delay[1], delay[1]) if delay[1] else 0.0))
            last_due = max(last_due, time.monotonic() + extra)
            await queue.put((last_due, data))
    except (ConnectionError, OSError):
        pass
    finally:
        await queue.put((0.0, None))
        with contextlib.suppress(ConnectionError, OSError):
            await sender
        with contextlib.suppress(Exception):
            writer.close()


async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(UPSTREAM_HOST, UPSTREAM_PORT), 3)
    except (OSError, TimeoutError):
        client_writer.close()
        return
    # Like netem on the upstream's egress: only what the upstream sends is held back.
    await asyncio.gather(pump(client_reader, up_writer, False), pump(up_reader, client_writer, True))


async def main() -> None:
    os.makedirs(os.path.dirname(CONTROL), exist_ok=True)
    server = await asyncio.start_server(handle, "0.0.0.0", LISTEN_PORT)
    print(f"proxying :{LISTEN_PORT} -> {UPSTREAM_HOST}:{UPSTREAM_PORT}", flush=True)
    watcher = asyncio.create_task(watch_control())
    async with server:
        # awaited with the server: a watcher that dies ends the proxy (Swarm restarts it)
        # instead of silently leaving the latency as it was
        await asyncio.gather(server.serve_forever(), watcher)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
