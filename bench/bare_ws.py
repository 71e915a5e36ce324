"""The transport floor: a bare `websockets` broadcast server with no framework in between.

Every client gets a snapshot frame on connect (as /ws/queue/updates/ does); on `go N INTERVAL
BYTES` from standard input the server broadcasts N frames, INTERVAL seconds apart, each a JSON
object of about BYTES bytes stamped with `sent_at` (epoch ms) just before the broadcast, the
way queue_app.events stamps its payloads; `go N INTERVAL BYTES FRAMES` sends FRAMES such frames
each time (a call is two frames at a display: served, then called), numbered on. It answers
`done` and waits for the next command.

    python -m bench.bare_ws --port 8765
"""

import argparse
import asyncio
import json
import sys
import time

from websockets.asyncio.server import broadcast, serve

clients = set()


async def handler(websocket):
    clients.add(websocket)
    try:
        await websocket.send('{"type": "snapshot"}')
        async for _message in websocket:
            pass
    finally:
        clients.discard(websocket)


async def fan_out(count: int, interval: float, size: int, frames: int = 1) -> None:
    padding = "x" * max(0, size - 120)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for seq in range(count):
        await asyncio.sleep(max(0.0, start + seq * interval - loop.time()))
        sent_at = time.time() * 1000
        for part in range(frames):
            payload = {"type": "queue_update", "event": "bare", "seq": seq * frames + part, "counter_id": None}
            broadcast(clients, json.dumps({**payload, "pad": padding, "sent_at": sent_at}))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    loop = asyncio.get_running_loop()
    async with serve(handler, args.host, args.port, backlog=2048, compression=None, max_size=2**16):
        print("ready", flush=True)
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line or line.strip() == "exit":
                return
            parts = line.split()
            if parts[0] == "go":
                frames = int(parts[4]) if len(parts) > 4 else 1
                await fan_out(int(parts[1]), float(parts[2]), int(parts[3]), frames)
                print("done", flush=True)
            elif parts[0] == "count":
                print(f"clients {len(clients)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
