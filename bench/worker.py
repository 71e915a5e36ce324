"""A load-generator process: runs commands from the orchestrator in its own asyncio loop.

The orchestrator sends `(name, kwargs)` over a multiprocessing pipe; the worker runs
`cmd_<name>(**kwargs)` and answers `("ok", result)` or `("error", traceback)`. The pipe is read
in a thread so that sockets and timers keep running between commands. Workers import neither
Django nor the project: they only speak HTTP and WebSocket to the server, like browsers.
"""

import asyncio
import multiprocessing
import resource
import signal
import time
import traceback

# The load generator holds thousands of sockets: raise its own open-file limit to the hard one.
FD_WANTED = 65536


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, FD_WANTED) if hard != resource.RLIM_INFINITY else FD_WANTED
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Worker:
    def __init__(self, conn, config: dict):
        self.conn = conn
        self.config = config

    async def setup(self) -> None:
        pass

    async def teardown(self) -> None:
        pass

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        await self.setup()
        try:
            while True:
                message = await loop.run_in_executor(None, self.conn.recv)
                name, kwargs = message
                if name == "exit":
                    self.conn.send(("ok", None))
                    return
                try:
                    result = await getattr(self, f"cmd_{name}")(**kwargs)
                    self.conn.send(("ok", result))
                except Exception:
                    self.conn.send(("error", traceback.format_exc()))
        finally:
            await self.teardown()

    async def cmd_stat(self) -> dict:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {"t": time.time(), "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}


def _entry(worker_class_path: str, conn, config: dict) -> None:
    # The orchestrator ends its workers; a Ctrl-C in the terminal is the orchestrator's to handle.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise_fd_limit()
    module_name, class_name = worker_class_path.rsplit(".", 1)
    module = __import__(module_name, fromlist=[class_name])
    asyncio.run(getattr(module, class_name)(conn, config).serve())


class WorkerHandle:
    """The orchestrator's side: start a worker process, call its commands, stop it."""

    def __init__(self, name: str, worker_class_path: str, config: dict):
        context = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=_entry, args=(worker_class_path, child, config), name=f"bench-{name}", daemon=True
        )
        self.process.start()
        child.close()
        self.pending = False

    @property
    def pid(self) -> int:
        return self.process.pid

    def send(self, name: str, **kwargs) -> None:
        if self.pending:
            raise RuntimeError(f"{self.name}: a command is already running")
        self.conn.send((name, kwargs))
        self.pending = True

    def result(self, timeout: float):
        if not self.conn.poll(timeout):
            raise TimeoutError(f"{self.name}: no answer within {timeout:.0f} s")
        self.pending = False
        status, value = self.conn.recv()
        if status != "ok":
            raise RuntimeError(f"{self.name} failed:\n{value}")
        return value

    def call(self, name: str, *, timeout: float = 120, **kwargs):
        self.send(name, **kwargs)
        return self.result(timeout)

    def stop(self) -> None:
        if self.process.is_alive():
            try:
                if not self.pending:
                    self.conn.send(("exit", {}))
                    self.conn.poll(5)
            except (OSError, EOFError, BrokenPipeError):
                pass
            self.process.join(5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
