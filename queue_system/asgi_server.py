"""Daphne on uvloop: `python -m queue_system.asgi_server [Daphne's options] queue_system.asgi:application`
takes exactly `daphne`'s command line (make run, the systemd units and the compose file start it).

Daphne runs Twisted on an asyncio event loop it makes as it is imported. Made under uvloop's
policy, that loop gets a call to 2,000 sockets out sooner (bench/README.md, "Daphne on uvloop").
Where uvloop is not installed (it does not build on Windows), this is plain Daphne.
"""

import asyncio

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is in requirements.txt wherever it builds
    uvloop = None


def use_uvloop() -> bool:
    """Make the loops asyncio creates from now on uvloop's; before Daphne is imported."""
    if uvloop is None:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def main() -> None:
    use_uvloop()
    from daphne.cli import CommandLineInterface  # makes Daphne's loop: after the policy

    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
