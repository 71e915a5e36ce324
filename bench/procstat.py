"""What processes and the machine spent, read from /proc (no psutil): CPU seconds, RSS, load."""

import os
import resource
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
TICK_ROUNDING = 3  # ticks: utime and stime are each rounded, at both ends


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (all its threads) so far, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def thread_cpu_ns(pid: int) -> dict[str, int] | None:
    """CPU of each live thread of a process so far, in nanoseconds (schedstat), or None.

    /proc/<pid>/stat counts in clock ticks (10 ms): a phase of 150 trivial requests spread over
    seven processes is a few dozen ticks, and rounding each process's count swung the CPU per
    request by half a millisecond (Snapshot.since uses these when every thread's time is there)."""
    try:
        found = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as handle:
                found[tid] = int(handle.read().split()[0])
        return found
    except (OSError, ValueError, IndexError):  # gone, a thread ended meanwhile, or no schedstat
        return None


def process_memory_kb(pid: int) -> dict:
    """VmRSS and VmHWM (peak RSS) of a process in kB, from /proc/<pid>/status."""
    result = {}
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(("VmRSS:", "VmHWM:", "Threads:")):
                    key, value = line.split(":", 1)
                    result[key] = int(value.split()[0])
    except OSError:
        pass
    return {"rss_kb": result.get("VmRSS"), "peak_rss_kb": result.get("VmHWM"), "threads": result.get("Threads")}


def process_open_fds(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def machine_cpu() -> tuple[float, float, float]:
    """(busy, total, steal) jiffies of all CPUs since boot, from the first line of /proc/stat.

    Steal is time the hypervisor gave this machine's virtual CPUs to someone else: a run whose
    phases show steal measured a machine shared with another tenant's load."""
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # steal included, guest is already in user
    steal = values[7] if len(values) > 7 else 0
    return float(total - idle), float(total), float(steal)


def python_speed_ms(loops: int = 3) -> float:
    """The best of `loops` timings of a fixed pure-Python loop (10^6 squares summed), in ms: how
    fast this machine runs Python. Machines of the same kind differ (one session's measured every
    figure ~2.5x slower than the previous one's), so a run's figures compare with another's only
    together with this number."""
    best = float("inf")
    for _ in range(loops):
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        best = min(best, time.perf_counter() - started)
    return round(best * 1000, 1)


def loadavg() -> list[float]:
    with open("/proc/loadavg") as handle:
        return [float(v) for v in handle.read().split()[:3]]


def find_pids(name: str) -> list[int]:
    """Pids whose command name (/proc/<pid>/comm) is `name`: MariaDB and Redis, read only."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as handle:
                if handle.read().strip() == name:
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def own_cpu_seconds() -> float:
    """CPU this process (every thread) has used: what a load generator reports about itself."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def own_snapshot() -> dict:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"t": time.time(), "cpu_s": usage.ru_utime + usage.ru_stime, "maxrss_kb": usage.ru_maxrss}


class Snapshot:
    """CPU and memory of a set of pids and of the machine at one moment."""

    def __init__(self, pids: dict[str, int]):
        self.t = time.time()
        self.mono = time.monotonic()
        self.machine = machine_cpu()
        self.threads = {label: thread_cpu_ns(pid) for label, pid in pids.items()}
        self.procs = {
            label: {"cpu_s": process_cpu_seconds(pid), **process_memory_kb(pid)} for label, pid in pids.items()
        }

    def since(self, earlier: "Snapshot") -> dict:
        """CPU used between two snapshots: per process (in seconds and as % of one core) and machine-wide."""
        wall = max(1e-9, self.mono - earlier.mono)
        busy = self.machine[0] - earlier.machine[0]
        total = self.machine[1] - earlier.machine[1]
        steal = self.machine[2] - earlier.machine[2]
        procs = {}
        for label, now in self.procs.items():
            before = earlier.procs.get(label, {})
            cpu = None
            if now.get("cpu_s") is not None and before.get("cpu_s") is not None:
                cpu = now["cpu_s"] - before["cpu_s"]
            threads_now, threads_before = self.threads.get(label), earlier.threads.get(label)
            if threads_now and threads_before and threads_before.keys() <= threads_now.keys():
                # To the nanosecond, unless the ticks saw more than rounding can explain: threads
                # that started and ended in between (Daphne's per-request ones) took their time along.
                precise = (sum(threads_now.values()) - sum(threads_before.values())) / 1e9
                if cpu is None or cpu - precise <= TICK_ROUNDING / CLOCK_TICKS:
                    cpu = precise
            procs[label] = {
                "cpu_s": round(cpu, 3) if cpu is not None else None,
                "cpu_pct_of_core": round(100 * cpu / wall, 1) if cpu is not None else None,
                "rss_mb": round(now["rss_kb"] / 1024, 1) if now.get("rss_kb") else None,
                "peak_rss_mb": round(now["peak_rss_kb"] / 1024, 1) if now.get("peak_rss_kb") else None,
            }
        return {
            "wall_s": round(wall, 3),
            "machine_busy_pct": round(100 * busy / total, 1) if total else None,
            "machine_busy_cores": round(os.cpu_count() * busy / total, 2) if total else None,
            "machine_steal_pct": round(100 * steal / total, 1) if total else None,
            "processes": procs,
        }
