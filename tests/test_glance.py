"""Results at a glance and the scorecard grid are computed from stored results; the verdict rules do not flatter.

Hand-made results stand in for the store: a registry double returns them (or nothing) per experiment and family.
"""
from pathlib import Path

import pytest

from pgxlib import experiments
from pgxlib.report import ablations, glance, scorecard
from pgxlib.report.claims import CLAIMS, headline_claims
from pgxlib.report.main_results import method_score
from pgxlib.report.scorecard_view import COLOURS, chapter_links, details_html, grid_html

from doubles import Registry, StoredLookup, StoredResult


def Result(metrics, stale=False, commit="abcdef1234567", timestamp="2026-11-20T10:00:00+00:00"):
    return StoredResult(metrics, stale, commit, timestamp, total_time=10.0)


def methods(**means_stds):
    """{"policygradex": (mean, std), ...} → the main_results methods dict (three seeds around the mean)."""
    return {"methods": {k: {"mean": m, "std": s, "seeds": [m - s, m, m + s], "status": "measured"}
                        for k, (m, s) in means_stds.items()}}


BASES = ("multitask", "soft_modularization", "paco", "random_grouping", "gradient_similarity_grouping")


def family_scores(ours, best, std=1.0, rest=0.0):
    return methods(policygradex=(ours, std), multitask=(best, std), **{k: (rest, std) for k in BASES[1:]})


def noisy(**means):
    """{"policygradex": mean, ...} → the main_results methods dict over five seeds: every method shares the seed
    effect [0, 4, -4, 2, -2], PolicyGradEx adds its own noise, so its gaps have a spread."""
    shared, own = [0.0, 4.0, -4.0, 2.0, -2.0], [1.0, -1.0, 0.5, -0.5, 0.0]
    out = {}
    for k, m in means.items():
        seeds = [m + a + (b if k == "policygradex" else 0.0) for a, b in zip(shared, own)]
        out[k] = {"mean": m, "std": 3.0, "seeds": seeds, "status": "measured"}
    return {"methods": out}


def test_glance_table_and_sentences_come_from_the_stored_results():
    reg = Registry({("main_results", "cartpole"): Result(family_scores(120.0, 100.0)),           # leads by +20
                    ("main_results", "nav2d"): Result(family_scores(-10.0, -5.0, rest=-99.0), stale=True),  # trails
                    ("main_results", "planted"): Result(noisy(policygradex=3.0, multitask=2.5, random_grouping=0.0))})
    rows = glance.collect("default", reg)
    table = glance.glance_table(rows)
    assert list(table.columns) == ["cartpole", "nav2d", "planted"]  # stored families, in FAMILIES order
    assert table.loc["PolicyGradEx", "cartpole"] == "120 ± 1.0 (159.2)"  # ours, then the paper's number
    assert table.loc["PolicyGradEx", "nav2d"] == "-10.0 ± 1.0"
    assert table.loc["computed (commit)", "nav2d"] == "2026-11-20 abcdef1 STALE"
    assert "CARE" not in table.index  # only the paper reports it, on a family with no stored result
    note = glance.missing_note(rows)
    assert "lunarlander (paper: PolicyGradEx 82.8), `pgx run main_results --profile default -p family lunarlander`" \
        in note and "metaworld (paper: PolicyGradEx 94.0%)" in note
    kinds = {v.family: v.kind for v in map(glance.family_verdict, rows) if v is not None}
    assert kinds == {"cartpole": "leads", "nav2d": "trails", "planted": "undecided"}
    s = glance.sentences(rows)
    assert len(s) == 5 and "seed std" not in " ".join(s) and "seed noise" not in " ".join(s)
    assert "on cartpole (+20 [+20, +20] return against Multi-task training)" in s[0]
    assert s[1].startswith("It is below, interval clear of 0, Multi-task training on nav2d (-5 [-5, -5] return")
    assert "stale result" in s[1] and "undecided (an interval covers 0) on planted (+0.5 [" in s[1]
    assert "first with intervals clear of 0 on 1 of 3 families" in s[2] and "with 3 to 5 seeds" in s[2]
    assert "no main result is stored for lunarlander" in s[4] and "nav2d are stale" in s[4]
    readme = glance.glance_markdown("default", reg, status=False)
    assert "STALE" not in readme and "stale result" not in readme and "| PolicyGradEx | 120 ± 1.0 (159.2)" in readme
    assert "| planted | not stored | not stored | no reference grouping | +0.5 [" in readme  # the answer row


def test_each_trailing_family_names_its_own_baselines():
    """A baseline that beats PolicyGradEx on one family is not said to beat it on another."""
    paco_ahead = methods(policygradex=(0.0, 1.0), multitask=(-5.0, 1.0), paco=(9.0, 1.0),
                         **{k: (-5.0, 1.0) for k in BASES[1:] if k != "paco"})
    reg = Registry({("main_results", "cartpole"): Result(family_scores(-10.0, -5.0, rest=-99.0)),
                    ("main_results", "nav2d"): Result(paco_ahead)})
    below = glance.sentences(glance.collect("default", reg))[1]
    cartpole, nav2d = below.split("; ")
    assert "Multi-task training on cartpole" in cartpole and "PaCo" not in cartpole
    assert "PaCo on nav2d" in nav2d and "Multi-task" not in nav2d.split(" on nav2d")[0]


def test_metaworld_verdict_counts_care_and_speaks_in_points_of_success():
    """On MT10 the table is in success %; CARE is a baseline there like any other."""
    def mw(ours, care, rest):
        rows = {"policygradex": ours, "care": care, **{k: rest for k in BASES}}
        return {"methods": {k: {"mean": 0.0, "std": 0.0, "seeds": [0.0, 0.0, 0.0], "status": "measured",
                                "success": {"mean": m, "std": 0.01, "seeds": [m - 0.01, m, m + 0.01]}}
                            for k, m in rows.items()}}

    reg = Registry({("main_results", "metaworld"): Result(mw(0.10, 0.20, 0.05))})
    rows = glance.collect("default", reg, families=["metaworld"])
    assert glance.glance_table(rows).loc["CARE", "metaworld"] == "20.0 ± 1.0 (84.0%)"
    verdict = glance.family_verdict(rows[0])
    assert (verdict.kind, verdict.best, verdict.behind) == ("trails", "care", ("care",))
    assert "metaworld (-10 [-10, -10] points of success against CARE)" in glance.sentences(rows)[1]
    assert glance.payoff_cells(rows[0])[0] == "no reference grouping"


def test_glance_with_nothing_stored_says_so():
    rows = glance.collect("default", Registry({}))
    assert all(r.result is None for r in rows)
    assert "cannot say whether PolicyGradEx works" in glance.sentences(rows)[0]
    assert glance.glance_table(rows).columns.empty and "cartpole" in glance.missing_note(rows)
    answers = glance.answer_frame(rows, [], None)
    assert list(answers.columns) == list(glance.ANSWER_COLUMNS) and (answers == "not stored").all().all()


def _references(oracle_gain: float, ours_gain: float, spread: float):
    """A main result with multitask, random grouping, PolicyGradEx and a truth_grouping reference over 5 seeds."""
    multitask = [10.0, 14.0, 6.0, 12.0, 8.0]
    jitter = [spread, -spread, spread / 2, -spread / 2, 0.0]
    seeds = {"multitask": multitask, "random_grouping": [m + 1.0 for m in multitask],
             "truth_grouping": [m + oracle_gain + j for m, j in zip(multitask, jitter)],
             "policygradex": [m + ours_gain - j for m, j in zip(multitask, jitter)]}
    return {"family": "cartpole", "references": ["truth_grouping"],
            "methods": {k: {"mean": sum(v) / 5, "std": 1.0, "seeds": v, "status": "measured"} for k, v in seeds.items()}}


def test_the_answer_row_reads_structure_estimate_payoff_and_share():
    def structure(ceiling):
        sweep = [{"finetune_steps": 4096, "noise_ceiling_nmi": ceiling}]
        return Result({"finetune_sweep": sweep, "plateau_finetune_steps": 4096})

    rule_rows = [{"family": "cartpole", "evaluator": glance.DEFAULT_SCORE, "seed": s, "nmi": n, "ceiling": 1.0}
                 for s, n in ((0, 1.0), (1, 0.6), (2, 0.9))]
    rule_rows.append({"family": "metaworld", "evaluator": glance.DEFAULT_SCORE, "seed": 0, "nmi": 0.2, "ceiling": 0.1})
    reg = Registry({("main_results", "cartpole"): Result(_references(oracle_gain=8.0, ours_gain=4.0, spread=1.0)),
                    ("structure", "cartpole"): structure(0.95),
                    ("evaluator_rule", "planted"): Result({"evaluator_rule": {"rows": rule_rows}})})
    rows = glance.collect("default", reg, families=["cartpole", "metaworld"])
    struct = glance.collect("default", reg, "structure", families=["cartpole", "metaworld"])
    rule = glance.collect("default", reg, "evaluator_rule", families=["planted"])[0]
    answers = glance.answer_frame(rows, struct, rule)
    row = answers.loc["cartpole"]
    assert row.iloc[0] == "yes (0.95)" and row.iloc[1] == "0.60 / 1.00 (worst of 3 seeds)"
    assert row.iloc[2].startswith("+8 [") and row.iloc[2].endswith("(measured)")
    assert row.iloc[3].startswith("+4 [") and row.iloc[3].endswith(", 50% of it")
    assert answers.loc["metaworld"].iloc[0] == "no (0.10, speedup chapter)"  # no structure result: the truth's own
    assert answers.loc["metaworld"].iloc[1] == "0.20 / 0.10"
    text = glance.payoff_sentence(rows)
    assert "beats multitask with an interval clear of 0 on cartpole (+8 [" in text and "recovers 50% of it" in text
    flat = _references(oracle_gain=0.5, ours_gain=0.0, spread=3.0)
    text = glance.payoff_sentence([glance.Stored("cartpole", Result(flat), "")])
    assert "its gain is not told apart from 0 on cartpole (+0.5 [" in text
    losing = _references(oracle_gain=-8.0, ours_gain=-9.0, spread=1.0)
    text = glance.payoff_sentence([glance.Stored("cartpole", Result(losing), "")])
    assert "even the best reference grouping is below multitask, interval clear of 0, on cartpole (-8 [" in text
    assert "not told apart" not in text


def test_readme_glance_is_the_generated_one():
    """The README's table is `pgx glance --readme` over the committed default results, never typed."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    from pgxlib.book import chapter_params

    block = glance.glance_markdown("default", experiments, status=False, params=chapter_params("default")).strip()
    assert glance.with_readme_block(readme, block) == readme, \
        "README.md's results at a glance differ from the stored default results: run `pgx glance --readme`"


def _card(stored):
    return scorecard.build_scorecard("default", Registry(stored))


def test_scorecard_grid_is_computed_from_stored_results():
    stored = {("main_results", "cartpole"): Result(family_scores(120.0, 100.0)),
              ("main_results", "highway"): Result(family_scores(10.0, 10.5, std=2.0))}
    card = _card(stored)
    html = grid_html(card, chapter_links({("main_results", "cartpole"): "02-main_results-02-cartpole.html",
                                          ("main_results", "all"): "02-main_results.html"}))
    row = card[(card["label"] == "PolicyGradEx above every baseline") & (card["family"] == "cartpole")].iloc[0]
    assert row["status"] == "reproduced" and row["ours"] == "120.0"
    assert COLOURS["reproduced"] in html and COLOURS["undecided"] in html
    assert '<a href="02-main_results-02-cartpole.html"' in html
    assert '✓ <span style="white-space:nowrap">120.0</span>' in html  # a number in a grid cell never breaks
    assert html.index("PolicyGradEx above every baseline") < html.index("Gap falls as groups grow") or \
        "Gap falls as groups grow" not in html
    # families with nothing measured are named once under the grid, not drawn as grey columns
    assert "<b>metaworld</b>: none of its" in html and ">metaworld</th>" not in html
    details = details_html(card)
    assert details.count("<details>") == len(dict.fromkeys(card["table"]))
    assert "<code>pgx run main_results --profile default -p family metaworld</code>" in details
    empty = grid_html(_card({}))
    assert "measured on no family yet" in empty


def test_adds_little_without_per_seed_values_is_undecided():
    """The gap is shown in return, and "adds little" is decided on paired seeds only (`AddsLittle`)."""
    claim = next(c for c in ablations.family_claims("cartpole") if c.label == "k=4 adds little over k=3")
    metrics = {"k": {"by_value": {"3": {"score": 10.0}, "4": {"score": 10.0 - 6.56}}},
               "methods": {"policygradex": {"std": 2.0}}}
    row = scorecard.evaluate_claim(claim, StoredLookup(metrics))
    assert (row["ours"], row["status"]) == ("-6.56 return", "undecided")
    assert row["why"].startswith("no per-seed values")


def test_a_main_result_is_read_under_its_own_protocol():
    """The protocol is data: the paper's table says which family it reports under which protocol, a stored result
    says (or its metrics show) which protocol computed it, and a score is read only where the two agree."""
    from pgxlib import paper
    from pgxlib.report.main_results import result_protocol

    assert paper.protocol("metaworld") == "multi_objective" and paper.protocol("cartpole") == "meta_rl"
    assert paper.protocol("nav2d") == "meta_rl"  # a family the paper does not report: our control protocol
    success = {"methods": {"policygradex": {"mean": 1.0, "success": {"mean": 0.9}}}}
    returns = {"methods": {"policygradex": {"mean": 150.0, "before": {"mean": 120.0}}}}
    assert result_protocol(StoredResult(success)) == "multi_objective"
    assert result_protocol(StoredResult(returns)) == "meta_rl"
    declared = StoredResult(success)
    declared.meta["protocol"] = "meta_rl"
    assert result_protocol(declared) == "meta_rl"
    mt10 = method_score("metaworld", "policygradex")
    assert mt10.measure(StoredLookup(success)).value == pytest.approx(90.0)
    got = mt10.measure(StoredLookup(returns))
    assert got.value is None and "meta_rl protocol" in got.problems[0]
    assert method_score("cartpole", "policygradex").measure(StoredLookup(returns)).value == 150.0


def test_no_relative_gain_on_negative_returns():
    lookup = StoredLookup({"methods": {"policygradex": {"mean": -40.0, "seeds": [-41.0, -39.0]},
                                       "multitask": {"mean": -50.0, "seeds": [-51.0, -49.0]}}})
    gain = scorecard.Gain(method_score("lunarlander", "policygradex"), method_score("lunarlander", "multitask"))
    got = gain.measure(lookup)
    assert got.value is None and "not defined" in got.problems[0]
    positive = StoredLookup({"methods": {"policygradex": {"mean": 110.0, "seeds": [100.0, 120.0]},
                                         "multitask": {"mean": 100.0, "seeds": [90.0, 110.0]}}})
    assert gain.measure(positive).value == pytest.approx(10.0)
    mixed = StoredLookup({"methods": {"policygradex": {"mean": 5.0, "seeds": [-1.0, 11.0]},
                                      "multitask": {"mean": 4.0, "seeds": [3.0, 5.0]}}})
    assert gain.measure(mixed).value is None  # one negative seed: returns can be negative here
    # the ablation orders show their gap in return instead, which negative returns do not distort
    claim = next(c for c in ablations.family_claims("lunarlander") if c.label == "k=3 above k=2")
    metrics = {"k": {"by_value": {"2": {"score": -50.0}, "3": {"score": -40.0}}},
               "methods": {"policygradex": {"std": 4.0}}}
    row = scorecard.evaluate_claim(claim, StoredLookup(metrics))
    assert (row["ours"], row["status"]) == ("+10 return", "undecided")  # one seed: no paired interval


def test_a_headline_holds_only_on_every_family_measured():
    claim = next(c for c in headline_claims() if c.label == "Headline: first-order error within 2%")
    ok = {("first_order_error", "cartpole"): Result({"paper_definition_error_pct": {"0.1": 0.1, "0.5": 0.2, "1": 0.5}})}
    row = scorecard.evaluate_claim(claim, scorecard.Lookup("default", Registry(ok)))
    assert row["status"] == "reproduced" and "holds on cartpole" in row["why"] and "not measured on" in row["why"]
    bad = {**ok, ("first_order_error", "nav2d"): Result({"paper_definition_error_pct": {"0.1": 0.1, "1": 3.0}})}
    row = scorecard.evaluate_claim(claim, scorecard.Lookup("default", Registry(bad)))
    assert row["status"] == "refuted" and "fails on nav2d 3.00%" in row["why"]
    assert row["ours"] == "3.00%"


def _speed(nmi, ceiling, rank, speedup):
    return Result({"by_layers": {"2": {"speedup": speedup, "nmi": nmi, "noise_ceiling_nmi": ceiling,
                                       "rank_correlation": rank}}})


def test_the_headline_speedup_counts_only_runs_whose_agreement_clears_the_ceiling():
    claim = next(c for c in headline_claims() if c.label == "Headline: up to 26× faster")
    stored = {("speedup", "lunarlander"): _speed(0.9, 0.8, 0.02, 20.0),   # fast, but ranks agree by chance
              ("speedup", "planted"): _speed(1.0, 1.0, 0.8, 3.0)}          # agrees, but slow
    row = scorecard.evaluate_claim(claim, scorecard.Lookup("default", Registry(stored)))
    assert row["status"] == "refuted" and "planted 2 layers 3.0×" in row["why"]
    assert "not counted (agreement below the guard): lunarlander 2 layers 20.0×" in row["why"]
    assert row["ours"] == "3×"  # the number shown is the one judged
    stored[("speedup", "planted")] = _speed(0.3, 1.0, 0.1, 3.0)
    row = scorecard.evaluate_claim(claim, scorecard.Lookup("default", Registry(stored)))
    assert row["status"] == "undecided" and row["ours"] == "20×" and "no measured speedup counts" in row["why"]
    stored[("speedup", "lunarlander")] = _speed(0.9, 0.8, 0.6, 20.0)
    row = scorecard.evaluate_claim(claim, scorecard.Lookup("default", Registry(stored)))
    assert row["status"] == "reproduced" and "lunarlander 2 layers 20.0×" in row["why"]


def test_why_sentence_names_the_families_with_and_without_structure():
    def structure(family, ceiling, stale=False):
        sweep = [{"finetune_steps": 4096, "noise_ceiling_nmi": ceiling}]
        return glance.Stored(family, Result({"finetune_sweep": sweep, "plateau_finetune_steps": 4096}, stale=stale), "")
    text = glance.payoff_sentence([], [structure("planted", 1.0), structure("cartpole", 0.5, stale=True),
                                       glance.Stored("nav2d", None, "")])
    assert "stable affinity structure at our budget on planted (ceiling 1.00)" in text
    assert "none on cartpole (ceiling 0.50, stale)" in text and "nav2d" not in text
    assert "whether grouping can pay is not measured" in text


def test_status_sentence_dates_the_stored_results():
    one_day = [glance.Stored("cartpole", Result(methods(policygradex=(1.0, 0.1))), ""),
               glance.Stored("nav2d", Result(methods(policygradex=(1.0, 0.1)), timestamp="2026-11-20T18:00:00"), "")]
    assert "computed on 2026-11-20;" in glance.status_sentence(one_day, status=False)
    two_days = [*one_day, glance.Stored("planted", Result(methods(policygradex=(1.0, 0.1)),
                                                          timestamp="2026-11-22T09:00:00"), "")]
    assert "computed between 2026-11-20 and 2026-11-22;" in glance.status_sentence(two_days, status=False)
    missing = [*one_day, glance.Stored("highway", None, "")]
    assert glance.status_sentence(missing, status=False).endswith("no main result is stored for highway.")


def test_scorecard_reads_the_result_its_chapter_shows():
    """A speedup stored under the chapter's parameters (a truth fine-tuned at the family's own budget) is the one
    the scorecard judges; without the chapter's parameters the default-parameter result is looked for."""
    class ByParams(Registry):
        def find_result(self, name, profile, family, seed=0, **params):
            return self.stored.get((name, family, tuple(sorted(params.items()))))

    speedup = {"by_layers": {str(d): {"nmi": 0.7, "speedup": 12.0, "noise_ceiling_nmi": 0.6,
                                      "rank_correlation": 0.5} for d in (2, 4, 8)}}
    reg = ByParams({("speedup", "lunarlander", (("finetune_steps", 16384),)): Result(speedup)})
    claims = [c for c in CLAIMS if c.name.startswith("Speedup over full training, 4-layer policy (Lunar")]
    assert len(claims) == 1
    default = scorecard.build_scorecard("default", reg, claims)
    assert default.iloc[0]["status"] == "not yet measured"
    chapter = scorecard.build_scorecard("default", reg, claims,
                                        chapter_params={"speedup": {"lunarlander": {"finetune_steps": 16384}}})
    assert chapter.iloc[0]["ours"] == "12×" and chapter.iloc[0]["status"] != "not yet measured"
