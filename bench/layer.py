"""What one channel-layer message costs the processes at each end: no Django, no server, no socket.

    .venv/bin/python -m bench.layer [--redis-url redis://127.0.0.1:6379/1] [--messages 2000] [--gap-ms 2]

A change's frames reach the screens as a few layer messages (one per group, DESIGN.md), and each
Daphne process with a member in a group receives each of them: with few sockets, that fixed cost
per message is most of Daphne's share of a change. Here one process (a child, on uvloop as Daphne
is) joins a group through the production layer (channels_redis's pub/sub layer) and receives
`--messages` messages that this process sends one every `--gap-ms`, a change's size each. It
reports the CPU of each end per message and which Redis reply parser redis-py used (hiredis, a C
extension, when installed; else its own, in Python).
"""

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time

GROUP = "bench-layer"
# About what a call's waiting_changed frame to a counter weighs.
TEXT = json.dumps({"type": "waiting_changed", "counter": {"id": 1, "waiting": list(range(20))}})


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parser_name() -> str:
    from redis.utils import HIREDIS_AVAILABLE

    return "hiredis" if HIREDIS_AVAILABLE else "python"


def layer(url: str, prefix: str):
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[url], prefix=prefix)


async def receive(url: str, prefix: str, messages: int) -> dict:
    channels = layer(url, prefix)
    channel = await channels.new_channel("bench.")
    await channels.group_add(GROUP, channel)
    print("ready", flush=True)
    await channels.receive(channel)  # the first one starts the clock: the set-up is not counted
    started = cpu_seconds()
    for _ in range(messages):
        await channels.receive(channel)
    used = cpu_seconds() - started
    await channels.flush()
    return {"receiver_cpu_us_per_message": round(used * 1e6 / messages, 1)}


async def send(url: str, prefix: str, messages: int, gap: float) -> dict:
    channels = layer(url, prefix)
    spent = 0.0
    for _ in range(messages + 1):
        started = cpu_seconds()
        await channels.group_send(GROUP, {"type": "broadcast", "texts": [TEXT]})
        spent += cpu_seconds() - started
        await asyncio.sleep(gap)
    await channels.flush()
    return {"sender_cpu_us_per_message": round(spent * 1e6 / (messages + 1), 1)}


def run(url: str, messages: int, gap_ms: float) -> dict:
    """Start the receiver, send to it, return both ends' figures."""
    prefix = f"bench-layer-{time.monotonic_ns()}"
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.layer",
            "--receiver",
            "--redis-url",
            url,
            "--messages",
            str(messages),
            "--prefix",
            prefix,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the receiver did not start (is Redis up?)")
        sent = asyncio.run(send(url, prefix, messages, gap_ms / 1000))
        # A message that went missing would leave the receiver waiting for ever.
        output, _ = child.communicate(timeout=60 + messages * gap_ms / 1000)
    except BaseException:
        child.kill()
        child.wait()
        raise
    if child.returncode != 0:
        raise RuntimeError(f"the receiver exited with {child.returncode}")
    received = json.loads(output)
    return {"parser": parser_name(), "messages": messages, **received, **sent}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.layer", description=__doc__)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/1")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--gap-ms", type=float, default=2.0, help="between two messages (default 2)")
    parser.add_argument("--receiver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        import uvloop

        print(json.dumps(uvloop.run(receive(args.redis_url, args.prefix, args.messages))))
        return 0
    print(json.dumps(run(args.redis_url, args.messages, args.gap_ms), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
