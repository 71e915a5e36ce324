"""One plain-text table per run, from the JSON the run writes."""


def _fmt(value, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _rows(headers: list[str], rows: list[list]) -> list[str]:
    cells = [headers] + [[_fmt(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def _endpoint_rows(phase: str, endpoints: dict) -> list[list]:
    rows = []
    for name, stats in endpoints.items():
        levels = [(None, stats)] if "requests" in stats else list(stats.items())
        for level, s in levels:
            label = f"{name} {level}" if level else name
            q = s.get("queries") or {}
            queries = f"{q['min']}-{q['max']}" if q else "-"
            cpu = s.get("server_cpu_ms_per_request")
            lk = s.get("lock_ms")
            lock = f"{_fmt(lk['wait_p50'])}/{_fmt(lk['hold_p50'])}/{_fmt(lk['hold_p95'])}" if lk else "-"
            row = [phase, label, s.get("requests"), s.get("rps"), s.get("p50"), s.get("p95"), s.get("p99")]
            split = s.get("server_cpu_ms_per_request_by_process") or {}
            by_process = " ".join(f"{kind} {_fmt(ms)}" for kind, ms in split.items() if ms) or "-"
            rows.append([*row, s.get("errors"), queries, cpu, by_process, lock])
    return rows


def _baseline(result: dict) -> list[str]:
    """Ours beside the baseline's, step by step as they ran (each ours first, then its)."""
    base = result.get("baseline")
    if not base:
        return []
    out = ["", f"Against the baseline {base['rev']} ({base['commit']}, {base['server']}): ours / baseline = x"]
    rows = []
    sides = [("floor(idle)", {"floor": result["floors"].get("http", {}).get("endpoints", {})},
              {"floor": base["floors"].get("http", {}).get("endpoints", {})})]  # fmt: skip
    if "http" in base["phases"]:
        sides.append(("http", result["phases"]["http"]["endpoints"], base["phases"]["http"]["endpoints"]))
    for phase, ours, theirs in sides:
        for endpoint, levels in ours.items():
            for level, a in levels.items():
                b = theirs.get(endpoint, {}).get(level)
                if not b:
                    continue
                row = [phase, f"{endpoint} {level}"]
                for field in ("rps", "p50", "p95", "server_cpu_ms_per_request"):
                    x, y = a.get(field), b.get(field)
                    row.append(f"{_fmt(x)} / {_fmt(y)} = {_fmt(round(x / y, 2) if x is not None and y else None)}")
                rows.append(row)
    out += _rows(["phase", "endpoint", "req/s", "p50", "p95", "srv cpu ms/req"], rows)
    for name, figures in base.get("vs", {}).items():
        if name.startswith("sustained"):
            out.append(f"{name} (ours, baseline): {figures}")
    return out


def _daphne_loop(cfg: dict) -> str:
    """Which loop Daphne ran on (results from before --daphne-loop ran plain Daphne: asyncio)."""
    if cfg.get("server") == "uvicorn":
        return ""
    return f"Daphne on {cfg.get('daphne_loop', 'asyncio')}, "


def table(result: dict) -> str:
    meta = result["meta"]
    cfg = meta["config"]
    out = [
        f"queue bench  {meta['started_at']}  git {meta.get('git')}  {cfg['db']} + {cfg['layer']}, "
        f"{cfg['processes']} {cfg.get('server', 'daphne')} process(es) ({cfg['layout']}), "
        f"{_daphne_loop(cfg)}"
        f"P={cfg['patients']} C={cfg['counters']} "
        f"D={cfg['displays']}  load avg {meta['loadavg_start']} -> {meta.get('loadavg_end')}  "
        f"python speed {meta.get('python_speed_ms')} ms",
        *(
            [
                f"WHAT-IF overrides: {cfg.get('overrides')} http-limit {cfg.get('http_limit')} "
                f"what-if {cfg.get('what_if')}"
            ]
            if cfg.get("overrides") or cfg.get("http_limit") or cfg.get("what_if")
            else []
        ),
        "",
        "HTTP (latency ms; open loop measured from the scheduled time)",
    ]
    rows = []
    floor = result.get("floors", {}).get("http", {}).get("endpoints")
    if floor:
        rows += _endpoint_rows("floor(idle)", {"floor": floor})
    for phase, data in result.get("phases", {}).items():
        rows += _endpoint_rows(phase, data.get("endpoints", {}))
    out += _rows(
        [
            "phase",
            "endpoint",
            "requests",
            "req/s",
            "p50",
            "p95",
            "p99",
            "errors",
            "queries",
            "srv cpu ms/req",
            "srv cpu by process",
            "lock wait50/hold50/hold95",
        ],
        rows,
    )

    out += ["", "Events (commit -> receipt ms, every connected client)"]
    rows = []
    for name, label in (("ws", "floor bare_ws"), ("ws_call", "floor bare_ws x2")):
        bare = result.get("floors", {}).get(name)
        if bare:
            lat = bare["latency"]
            rows.append([label, "all", bare["clients"], lat["count"], lat["p50"], lat["p95"], lat["p99"], lat["max"]])
    for phase, kinds in result["events"]["latency_ms"].items():
        for kind, s in kinds.items():
            rows.append([phase, kind, s.get("clients", ""), s["count"], s["p50"], s["p95"], s["p99"], s["max"]])
    out += _rows(["phase", "clients", "n", "frames", "p50", "p95", "p99", "max"], rows)
    d = result["events"]["delivery"]
    incomplete = d.get("drain_incomplete_in")
    out.append(
        f"lost {d['lost']} (display {d['display']['lost']}, counter {d['counter']['lost']}, "
        f"patient {d['patient']['lost']}), duplicates {d['duplicates']}, "
        f"closed by server {d['closed_by_server']}, never connected {d.get('never_connected', 0)}; "
        f"calls in DB {d['display']['calls_in_db']}, reaching no display {d['display']['calls_reaching_no_display']}"
        + (f"; bare floor lost {bare['lost']}" if bare else "")
        + (f"; DRAIN INCOMPLETE in {incomplete}: late messages count as lost" if incomplete else "")
    )
    per_message = result["events"].get("server_cpu_us_per_delivered_message") or {}
    if per_message:
        out.append("server CPU per delivered message (us): " + ", ".join(f"{k} {v}" for k, v in per_message.items()))

    out += ["", "Server and load generator (CPU % of one core, RSS MB)"]
    rows = []
    for phase, data in [("floor_http", result.get("floors", {}).get("http", {}))] + list(result["phases"].items()):
        res = data.get("resources") if data else None
        if not res:
            continue
        for label, p in res["processes"].items():
            rows.append([phase, label, p["cpu_pct_of_core"], p["rss_mb"], p["peak_rss_mb"]])
        steal = res.get("machine_steal_pct")
        label = "machine (all cores)" if steal is None else f"machine (all cores; steal {steal}%)"
        rows.append([phase, label, res["machine_busy_pct"], "", ""])
    out += _rows(["phase", "process", "cpu%", "rss", "peak"], rows)
    speeds = [
        f"{phase} {data['python_speed_ms']}"
        for phase, data in [("floor_http", result.get("floors", {}).get("http", {}))] + list(result["phases"].items())
        if data and data.get("python_speed_ms") is not None
    ]
    if speeds:
        out.append("python speed at each phase's start (ms; the header's is the run's start): " + ", ".join(speeds))
    conn = result["server"].get("connections", {})
    out.append(
        f"sockets {conn.get('sockets')}: server RSS {conn.get('server_rss_before_mb')} -> "
        f"{conn.get('server_rss_after_mb')} MB, "
        f"{conn.get('kb_per_connection')} kB per idle connection"
    )

    out += _baseline(result)

    c = result["correctness"]
    out += [
        "",
        f"Correctness: tickets {c['tickets']}, called twice {c['tickets_called_twice']}, "
        f"number gaps {c['number_gaps']}, duplicate numbers {c['duplicate_numbers']}, "
        f"counters calling two at once {c['counters_calling_two_at_once']}; "
        f"write floor: entries {c['write_floor']['entries']}, gaps {c['write_floor']['number_gaps']}, "
        f"duplicates {c['write_floor']['duplicate_numbers']}; "
        f"HTTP errors {result['errors']}",
        "Texts: " + (", ".join(f"{status} {n}" for status, n in sorted(c.get("texts", {}).items())) or "none"),
        "",
        "Ratios to the floors: " + ", ".join(f"{k} {v}" for k, v in result["ratios"].items()),
        "",
        "Targets:",
    ]
    for name, t in result["targets"].items():
        state = "met" if t["met"] else ("MISSED" if t.get("full_size", True) else "not covered at this size")
        out.append(f"  {name}: {state}  {t['value']}")
        floor = {k: t[k] for k in ("write_floor_x_floor", "write_floor") if t.get(k) is not None}
        if floor:
            out.append(f"    the least a change can do, same run: {floor}")
    return "\n".join(out)
