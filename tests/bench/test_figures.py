"""How the bench judges issue 26's capacity target from the closed loops of both commits."""

from bench.figures import baseline_targets, capacity_at_bound


def loops(**levels):
    """{level: ((join rps, p95), (serve_next rps, p95))} as the http phase records them."""
    endpoints = {"join": {}, "serve_next": {}}
    for level, ((join_rps, join_p95), (serve_rps, serve_p95)) in levels.items():
        endpoints["join"][level] = {"rps": join_rps, "p95": join_p95}
        endpoints["serve_next"][level] = {"rps": serve_rps, "p95": serve_p95}
    return {"meta": {"config": {"http_levels": [1, 4, 8]}}, "phases": {"http": {"endpoints": endpoints}}}


def test_capacity_is_the_busiest_level_whose_joins_and_calls_both_stay_within_the_bound():
    run = loops(c1=((30, 45), (32, 44)), c4=((50, 120), (52, 149)), c8=((54, 201), (53, 190)))

    assert capacity_at_bound(run["phases"]["http"]["endpoints"]) == {"rps": 102, "p95": 149, "level": "c4"}


def test_one_endpoint_over_the_bound_rules_its_level_out():
    run = loops(c1=((30, 45), (32, 44)), c4=((50, 120), (52, 151)))

    assert capacity_at_bound(run["phases"]["http"]["endpoints"])["level"] == "c1"


def test_the_target_compares_each_side_at_its_own_bound_and_shows_saturation_beside_it():
    ours = loops(c1=((30, 45), (32, 44)), c4=((50, 120), (52, 149)), c8=((54, 201), (53, 190)))
    baseline = loops(c1=((15, 90), (16, 95)), c4=((24, 260), (25, 240)), c8=((24, 500), (24, 480)))

    target = baseline_targets(ours, baseline)["joins_and_calls_per_s_ge_1_8x_baseline"]

    assert target["value"]["ratio"] == round(102 / 31, 2) and target["met"]
    assert target["value"]["baseline"]["level"] == "c1"
    assert target["value"]["at_top_level"] == {
        "level": "c8", "ratio": round(107 / 48, 2), "ours_rps_p95": (107, 201), "baseline_rps_p95": (48, 500)
    }  # fmt: skip


def test_ours_with_no_level_within_the_bound_misses_the_target():
    ours = loops(c1=((30, 160), (32, 44)))
    baseline = loops(c1=((15, 90), (16, 95)))

    target = baseline_targets(ours, baseline)["joins_and_calls_per_s_ge_1_8x_baseline"]

    assert target["full_size"] and not target["met"] and target["value"]["ratio"] is None


def test_a_baseline_with_no_level_within_the_bound_is_outdone_by_ours_within_it():
    # A slow machine: the baseline's calls are over the bound even one at a time.
    ours = loops(c1=((32, 42), (17, 89)), c4=((43, 135), (40, 140)))
    baseline = loops(c1=((15, 83), (10, 161)), c4=((15, 369), (17, 313)))

    target = baseline_targets(ours, baseline)["joins_and_calls_per_s_ge_1_8x_baseline"]

    assert target["met"] and target["value"]["ratio"] is None and target["value"]["baseline"] is None
    assert target["value"]["ours"] == {"rps": 83, "p95": 140, "level": "c4"}


def test_neither_side_within_the_bound_or_a_baseline_that_never_ran_is_a_miss():
    over = loops(c1=((30, 160), (32, 170)))
    assert not baseline_targets(over, over)["joins_and_calls_per_s_ge_1_8x_baseline"]["met"]

    ours = loops(c1=((30, 45), (32, 44)))
    no_loops = {"phases": {"http": {"endpoints": {}}}}
    target = baseline_targets(ours, no_loops)["joins_and_calls_per_s_ge_1_8x_baseline"]
    assert not target["full_size"] and not target["met"]
