"""The analyst's calculator: `okrflow stats ab` and `okrflow stats srm`.

The CLI only parses and formats: its JSON must equal what the engine's ``compare`` / ``srm_test`` return for
the same summaries, and SciPy (Welch's t-test, Pearson's chi-square) independently, to 1e-9. The commands need
no database: every test points ``--database-url`` at a file that does not exist and checks it still does not.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from okrflow import cli
from okrflow.metrics.experiments import (
    DEFAULT_SEQUENTIAL_TUNING,
    MeanSummary,
    Method,
    ProportionSummary,
    compare,
    srm_test,
)
from okrflow.store.db import ENV_DATABASE_URL

TOL = 1e-9


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_DATABASE_URL, raising=False)
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "never-initialised.db"
    runner = CliRunner()

    def invoke(*args: object):
        result = runner.invoke(cli.app, ["--database-url", f"sqlite:///{missing}", *[str(a) for a in args]])
        assert not missing.exists(), "the stats commands must not create or need a database"
        return result

    return invoke


def ok(result):
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(result) -> dict:
    ok(result)

    def no_constants(name: str) -> float:
        raise AssertionError(f"{name} in the JSON output")

    return json.loads(result.stdout, parse_constant=no_constants)


def one_line_error(result, message: str, code: int = 2) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert "Traceback" not in result.output
    assert result.stdout == ""
    return lines[0]


def row(text: str, first_cell: str) -> str:
    """The table row whose first cell starts with ``first_cell``."""
    for line in text.splitlines():
        if re.match(rf"[│┃]\s*{re.escape(first_cell)}", line):
            return line
    raise AssertionError(f"no row {first_cell!r} in:\n{text}")


def approx(value: float):
    return pytest.approx(value, abs=TOL, rel=TOL)


def assert_effect(got: dict, effect) -> None:
    assert got["effect"] == approx(effect.estimate)
    assert got["ci"] == [approx(effect.ci[0]), approx(effect.ci[1])]
    assert got["p_value"] == approx(effect.p_value)
    assert got["std_error"] == approx(effect.std_error)
    assert got["significant"] is effect.significant


def assert_matches_engine(got: dict, expected) -> None:
    assert_effect(got["absolute"], expected.absolute)
    if expected.relative is None:
        assert got["relative"] is None
    else:
        assert_effect(got["relative"], expected.relative)
    assert got["chance_to_win"] == approx(expected.chance_to_win)
    assert got["risk"] == [approx(expected.risk[0]), approx(expected.risk[1])]
    assert got["bayesian"]["scale"] == expected.bayesian.scale.value
    assert got["srm"]["p_value"] == approx(expected.srm.p_value)
    assert got["srm"]["mismatch"] is expected.srm.mismatch
    assert got["notes"] == list(expected.notes)


def welch(c_n: int, c_mean: float, c_var: float, t_n: int, t_mean: float, t_var: float):
    return stats.ttest_ind_from_stats(
        t_mean, math.sqrt(t_var), t_n, c_mean, math.sqrt(c_var), c_n, equal_var=False, alternative="two-sided"
    )


# ------------------------------------------------------------------ stats ab: proportions


def test_ab_proportion_json_equals_the_engine_scipy_and_the_textbook(run):
    got = as_json(run("stats", "ab", "--metric", "proportion", "--control", "1000,100", "--treatment", "1000,120",
                      "--json"))  # fmt: skip
    c, t = ProportionSummary(1000, 100), ProportionSummary(1000, 120)
    assert_matches_engine(got, compare(c, t))

    # SciPy: Welch's t-test from the summaries (variance p(1 − p), the engine's convention).
    scipy_result = welch(1000, 0.10, 0.10 * 0.90, 1000, 0.12, 0.12 * 0.88)
    assert got["absolute"]["p_value"] == approx(float(scipy_result.pvalue))
    assert got["absolute"]["effect"] / got["absolute"]["std_error"] == approx(float(scipy_result.statistic))

    # The textbook example of docs/experiments.md.
    assert got["absolute"]["effect"] == pytest.approx(0.02, abs=1e-12)
    assert got["absolute"]["std_error"] == pytest.approx(0.013986, abs=1e-6)
    assert got["absolute"]["p_value"] == pytest.approx(0.1529, abs=1e-4)
    assert got["absolute"]["ci"] == [pytest.approx(-0.0074, abs=1e-4), pytest.approx(0.0474, abs=1e-4)]
    assert got["relative"]["effect"] == pytest.approx(0.20, abs=1e-12)
    assert got["relative"]["std_error"] == pytest.approx(math.sqrt(0.02352), abs=1e-4)
    assert got["relative"]["ci"] == [pytest.approx(-0.101, abs=1e-3), pytest.approx(0.501, abs=1e-3)]
    assert got["chance_to_win"] == pytest.approx(0.9039, abs=1e-4)
    assert got["risk"] == [pytest.approx(0.2069, abs=1e-4), pytest.approx(0.0069, abs=1e-4)]

    # The inputs, α and the method are echoed; plain numbers, the SRM entry on the default 50/50 plan.
    assert got["metric"] == "proportion" and got["method"] == "fixed" and got["sequential_tuning"] is None
    assert got["alpha"] == 0.05 and got["lower_is_better"] is False
    assert got["control"] == {"n": 1000, "conversions": 100, "mean": approx(0.1), "variance": approx(0.09)}
    assert got["treatment"]["n"] == 1000 and got["treatment"]["mean"] == approx(0.12)
    assert got["srm"] | {"expected": None} == {
        "p_value": 1.0, "mismatch": False, "threshold": 0.001, "chi_square": 0.0, "dof": 1, "observed": [1000, 1000],
        "expected": None, "weights": [1.0, 1.0],
    }  # fmt: skip


def test_ab_alpha_changes_the_interval_not_the_p_value(run):
    args = ("stats", "ab", "--metric", "proportion", "--control", "2000,180", "--treatment", "2100,230", "--json")
    at_5 = as_json(run(*args))
    at_1 = as_json(run(*args, "--alpha", "0.01"))
    expected = compare(ProportionSummary(2000, 180), ProportionSummary(2100, 230), alpha=0.01)
    assert_matches_engine(at_1, expected)
    assert at_1["alpha"] == 0.01
    assert at_1["absolute"]["p_value"] == approx(at_5["absolute"]["p_value"])
    assert at_1["absolute"]["ci"][0] < at_5["absolute"]["ci"][0] < at_5["absolute"]["ci"][1] < at_1["absolute"]["ci"][1]
    e = expected.absolute  # the CI is estimate ± t_{1−α/2, ν}·se with Welch's ν
    half = stats.t.ppf(1 - 0.01 / 2, e.dof) * e.std_error
    assert at_1["absolute"]["ci"] == [approx(e.estimate - half), approx(e.estimate + half)]


def test_ab_planned_split_feeds_the_srm_entry(run):
    got = as_json(run("stats", "ab", "--metric", "proportion", "--control", "4000,400", "--treatment", "6300,700",
                      "--weights", "40,60", "--srm-threshold", "0.01", "--json"))  # fmt: skip
    expected = compare(ProportionSummary(4000, 400), ProportionSummary(6300, 700), split=(40, 60), srm_threshold=0.01)
    assert_matches_engine(got, expected)
    chi = stats.chisquare([4000, 6300], f_exp=[0.4 * 10300, 0.6 * 10300])
    assert got["srm"]["p_value"] == approx(float(chi.pvalue))
    assert got["srm"]["chi_square"] == approx(float(chi.statistic))
    assert got["srm"]["weights"] == [40.0, 60.0] and got["srm"]["threshold"] == 0.01
    assert got["srm"]["expected"] == [approx(4120.0), approx(6180.0)]


def test_lower_is_better_flips_chance_to_win_and_swaps_the_risks(run):
    args = ("stats", "ab", "--metric", "proportion", "--control", "1000,100", "--treatment", "1000,120", "--json")
    higher = as_json(run(*args))
    lower = as_json(run(*args, "--lower-is-better"))
    assert_matches_engine(
        lower, compare(ProportionSummary(1000, 100), ProportionSummary(1000, 120), lower_is_better=True)
    )
    assert lower["lower_is_better"] is True
    assert lower["chance_to_win"] == approx(1 - higher["chance_to_win"])
    assert lower["chance_to_win"] == pytest.approx(0.0961, abs=1e-4)  # an error rate going up is bad news
    assert lower["risk"] == [approx(higher["risk"][1]), approx(higher["risk"][0])]
    assert lower["absolute"] == higher["absolute"]  # estimates stay raw: treatment − control


def test_sequential_uses_the_always_valid_interval(run):
    args = ("stats", "ab", "--metric", "proportion", "--control", "3000,300", "--treatment", "3000,360", "--json")
    fixed = as_json(run(*args))
    seq = as_json(run(*args, "--sequential"))
    c, t = ProportionSummary(3000, 300), ProportionSummary(3000, 360)
    assert_matches_engine(seq, compare(c, t, method=Method.SEQUENTIAL))
    assert seq["method"] == "sequential" and seq["sequential_tuning"] == DEFAULT_SEQUENTIAL_TUNING
    assert (
        seq["absolute"]["ci"][0] < fixed["absolute"]["ci"][0] and fixed["absolute"]["ci"][1] < seq["absolute"]["ci"][1]
    )
    assert seq["absolute"]["p_value"] > fixed["absolute"]["p_value"]

    tuned = as_json(run(*args, "--sequential", "--sequential-tuning", "6000"))
    assert_matches_engine(tuned, compare(c, t, method=Method.SEQUENTIAL, sequential_tuning=6000))
    assert tuned["sequential_tuning"] == 6000.0


def test_zero_conversions_in_the_control_keeps_the_absolute_effect_with_a_note(run):
    got = as_json(run("stats", "ab", "--metric", "proportion", "--control", "1000,0", "--treatment", "1000,12",
                      "--json"))  # fmt: skip
    expected = compare(ProportionSummary(1000, 0), ProportionSummary(1000, 12))
    assert_matches_engine(got, expected)
    assert got["relative"] is None and got["bayesian"]["scale"] == "absolute"
    assert "the control mean is 0" in got["notes"][0]


# ------------------------------------------------------------------ stats ab: means


def test_ab_mean_json_equals_the_engine_and_scipy_on_the_raw_values(run):
    rng = np.random.default_rng(7)
    control = rng.gamma(2.0, 12.0, size=800)
    treatment = rng.gamma(2.0, 13.0, size=760)

    def summary(x: np.ndarray) -> str:
        return f"{len(x)},{float(x.sum())!r},{float((x**2).sum())!r}"

    got = as_json(run("stats", "ab", "--metric", "mean", "--control", summary(control), "--treatment",
                      summary(treatment), "--json"))  # fmt: skip
    c = MeanSummary(len(control), float(control.sum()), float((control**2).sum()))
    t = MeanSummary(len(treatment), float(treatment.sum()), float((treatment**2).sum()))
    assert_matches_engine(got, compare(c, t))

    scipy_result = stats.ttest_ind(treatment, control, equal_var=False)
    assert got["absolute"]["p_value"] == approx(float(scipy_result.pvalue))
    assert got["absolute"]["effect"] == approx(float(treatment.mean() - control.mean()))
    ci = scipy_result.confidence_interval(0.95)
    assert got["absolute"]["ci"] == [approx(float(ci.low)), approx(float(ci.high))]
    assert got["control"]["mean"] == approx(float(control.mean()))
    assert got["control"]["variance"] == approx(float(control.var(ddof=1)))
    assert got["metric"] == "mean" and set(got["control"]) == {"n", "sum", "sum_squares", "mean", "variance"}


def test_ab_mean_textbook_welch(run):
    # Two small samples worked by hand: x = 1, 2, 3, 4, 5 (mean 3, s² 2.5) vs y = 2, 4, 6, 8, 10 (mean 6, s² 10).
    # se = √(2.5/5 + 10/5) = √2.5, t = 3/√2.5 = 1.8974, ν = 2.5² / (0.5²/4 + 2²/4) = 5.8824.
    got = as_json(run("stats", "ab", "--metric", "mean", "--control", "5,15,55", "--treatment", "5,30,220", "--json"))
    assert got["absolute"]["effect"] == approx(3.0)
    assert got["absolute"]["std_error"] == approx(math.sqrt(2.5))
    assert got["absolute"]["p_value"] == approx(float(2 * stats.t.sf(3 / math.sqrt(2.5), 6.25 / 1.0625)))
    assert got["absolute"]["p_value"] == pytest.approx(0.1075, abs=1e-4)
    assert got["absolute"]["p_value"] == approx(
        float(stats.ttest_ind([2, 4, 6, 8, 10], [1, 2, 3, 4, 5], equal_var=False).pvalue)
    )


# ------------------------------------------------------------------ stats ab: the readable table


def test_ab_table_shows_the_key_figures(run):
    result = ok(run("stats", "ab", "--metric", "proportion", "--control", "1000,100", "--treatment", "1000,120"))
    text = result.stdout
    assert "A/B test · conversion rate (proportion) · higher is better · fixed-horizon Welch t-test" in text
    assert "α = 0.05" in text
    assert re.search(r"control\s+│ 1,000\s+│ 100\s+│ 10\.00%", row(text, "control"))
    assert re.search(r"treatment\s+│ 1,000\s+│ 120\s+│ 12\.00%", row(text, "treatment"))
    assert "95% CI" in text
    absolute = row(text, "absolute")
    assert "+2.000 pp" in absolute and "-0.743 pp … +4.743 pp" in absolute and "0.1529" in absolute
    assert "not significant at α = 0.05" in absolute
    relative = row(text, "relative (lift)")
    assert "+20.00%" in relative and "-10.08% … +50.08%" in relative and "0.1924" in relative
    assert "90.39%" in row(text, "chance to win")
    assert "20.69%" in row(text, "risk of control") and "0.69%" in row(text, "risk of treatment")
    srm = row(text, "SRM p-value")
    assert "1.0000" in srm and "no mismatch" in srm


def test_ab_table_flags_a_sample_ratio_mismatch_and_a_significant_effect(run):
    text = ok(run("stats", "ab", "--metric", "proportion", "--control", "5000,500", "--treatment", "5400,650",
                  "--alpha", "0.1")).stdout  # fmt: skip
    srm = row(text, "SRM p-value")
    assert "8.77e-05" in srm and "MISMATCH — don't trust the results" in srm
    assert "note: sample ratio mismatch (p = 8.8e-05 < 0.001)" in text
    assert "90% CI" in text and "significant at α = 0.1: treatment better" in row(text, "absolute")


def test_ab_table_for_a_lower_is_better_mean_sequential(run):
    text = ok(run("stats", "ab", "--metric", "mean", "--control", "500,12500,350000", "--treatment",
                  "520,13600,390000", "--lower-is-better", "--sequential")).stdout  # fmt: skip
    r = compare(
        MeanSummary(500, 12500, 350000), MeanSummary(520, 13600, 390000), lower_is_better=True,
        method=Method.SEQUENTIAL,
    )  # fmt: skip
    assert "lower is better · always-valid sequential test (tuning N* = 5000)" in text
    assert f"{r.chance_to_win * 100:.2f}%" in row(text, "chance to win")
    assert re.search(r"control\s+│ 500\s+│ 12,500\s+│ 350,000\s+│ 25\.00", row(text, "control"))
    assert f"{r.absolute.estimate:+.3f}" in row(text, "absolute")
    assert "a negative effect is an improvement" in text


def test_ab_table_without_a_relative_effect(run):
    text = ok(run("stats", "ab", "--metric", "proportion", "--control", "1000,0", "--treatment", "1000,12")).stdout
    assert "undefined (see the note)" in row(text, "relative (lift)")
    assert "note: the control mean is 0: a relative lift is undefined" in text
    assert "absolute scale" in row(text, "risk of control")


# ------------------------------------------------------------------ stats ab: bad input


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "proportion", "--control", "1000,abc", "--treatment", "1000,12"],
         "--control: CONVERSIONS 'abc' is not a number"),
        (["--metric", "proportion", "--control", "1000,100", "--treatment", "x,12"],
         "--treatment: N 'x' is not a number"),
        (["--metric", "proportion", "--control", "1000,10.5", "--treatment", "1000,12"],
         "--control: CONVERSIONS must be a whole number, not '10.5'"),
        (["--metric", "proportion", "--control", "1000", "--treatment", "1000,12"],
         "--control: a proportion takes N,CONVERSIONS (2 values), not 1"),
        (["--metric", "proportion", "--control", "1000,10,10", "--treatment", "1000,12"],
         "SUM_SQUARES is only for --metric mean"),
        (["--metric", "mean", "--control", "1000,10", "--treatment", "1000,12,50"],
         "--control: a mean takes N,SUM,SUM_SQUARES (3 values), not 2 (SUM_SQUARES is missing"),
        (["--metric", "mean", "--control", "1000,10,1,1", "--treatment", "1000,12,50"],
         "--control: a mean takes N,SUM,SUM_SQUARES (3 values), not 4"),
        (["--metric", "proportion", "--control", "1000,,1", "--treatment", "1000,12"],
         "--control: '1000,,1' has an empty value"),
        (["--metric", "proportion", "--control", "-5,1", "--treatment", "1000,12"], "--control: N must be ≥ 0, not -5"),
        (["--metric", "proportion", "--control", "1000,1200", "--treatment", "1000,12"],
         "--control: conversions (1200) cannot exceed n (1000)"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,-1"],
         "--treatment: CONVERSIONS must be ≥ 0, not -1"),
        (["--metric", "mean", "--control", "100,nan,10", "--treatment", "100,12,50"],
         "--control: SUM must be a finite number, not 'nan'"),
        (["--metric", "mean", "--control", "100,1000,10", "--treatment", "100,12,50"],
         "--control: sum of squares (10.0) is below sum²/n"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--weights", "1,2,3"],
         "--weights: 3 weight(s) for 2 variants; give one weight per variant"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--weights", "50"],
         "--weights: 1 weight(s) for 2 variants"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--weights", "1,0"],
         "--weights: weights must be positive, not 0"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--alpha", "1.5"],
         "--alpha must lie strictly between 0 and 1, not 1.5"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--alpha", "0"],
         "--alpha must lie strictly between 0 and 1, not 0"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--alpha", "five"],
         "--alpha: the value 'five' is not a number"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--srm-threshold", "1"],
         "--srm-threshold must lie strictly between 0 and 1"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--sequential-tuning", "9"],
         "--sequential-tuning applies only with --sequential"),
        (["--metric", "proportion", "--control", "1000,10", "--treatment", "1000,12", "--sequential",
          "--sequential-tuning", "0"], "--sequential-tuning must be positive"),
        (["--metric", "ratio", "--control", "1000,10", "--treatment", "1000,12"],
         "--metric must be proportion or mean, not 'ratio'"),
        (["--control", "1000,10", "--treatment", "1000,12"], "give --metric proportion"),
        (["--metric", "mean", "--treatment", "1000,12,50"], "give --control N,SUM,SUM_SQUARES"),
        (["--metric", "proportion", "--control", "1,1", "--treatment", "1000,12"],
         "control has 1 unit(s); each variant needs at least 2"),
        (["--metric", "mean", "--control", "100,1000,10000", "--treatment", "100,1000,10000"],
         "neither variant varies"),
    ],
)  # fmt: skip
def test_ab_bad_input_is_one_line_and_exit_2(run, args, message):
    one_line_error(run("stats", "ab", *args), message)
    one_line_error(run("stats", "ab", *args, "--json"), message)


def test_zero_conversions_in_both_arms_is_a_clear_error_not_nan(run):
    line = one_line_error(
        run("stats", "ab", "--metric", "proportion", "--control", "1000,0", "--treatment", "1000,0", "--json"),
        "neither variant varies (e.g. zero conversions in both, or every value equal)",
    )
    assert "no variance to test a difference against yet" in line
    table = run("stats", "ab", "--metric", "proportion", "--control", "1000,0", "--treatment", "1000,0")
    one_line_error(table, "neither variant varies")
    assert "nan" not in table.output.lower()


# ------------------------------------------------------------------ stats srm


@pytest.mark.parametrize(
    ("observed", "weights"),
    [([5000, 5400], [50, 50]), ([5000, 5300], [1, 1]), ([3300, 3350, 3450], [1, 1, 1]),
     ([2100, 2950, 5050], [20, 30, 50]), ([91, 9], [0.9, 0.1]), ([12, 0, 7, 30], [1, 2, 3, 4])],
)  # fmt: skip
def test_srm_json_equals_the_engine_and_scipy_chisquare(run, observed, weights):
    got = as_json(run("stats", "srm", "--observed", ",".join(map(str, observed)), "--weights",
                      ",".join(map(str, weights)), "--json"))  # fmt: skip
    expected = srm_test(observed, weights)
    total, weight_total = sum(observed), sum(weights)
    chi = stats.chisquare(observed, f_exp=[w / weight_total * total for w in weights])
    assert got["p_value"] == approx(expected.p_value) == approx(float(chi.pvalue))
    assert got["chi_square"] == approx(float(chi.statistic))
    assert got["mismatch"] is expected.mismatch and got["dof"] == len(observed) - 1
    assert got["observed"] == observed and got["weights"] == [float(w) for w in weights]


def test_srm_textbook_and_default_equal_split(run):
    flagged = as_json(run("stats", "srm", "--observed", "5000,5400", "--json"))
    assert flagged["p_value"] == pytest.approx(8.8e-5, abs=1e-6) and flagged["mismatch"] is True
    borderline = as_json(run("stats", "srm", "--observed", "5000,5300", "--json"))
    assert borderline["chi_square"] == pytest.approx(8.74, abs=5e-3)
    assert borderline["p_value"] == pytest.approx(0.0031, abs=1e-4) and borderline["mismatch"] is False
    stricter = as_json(run("stats", "srm", "--observed", "5000,5300", "--threshold", "0.01", "--json"))
    assert stricter["mismatch"] is True and stricter["threshold"] == 0.01
    assert as_json(run("stats", "srm", "--observed", "0,0", "--json"))["p_value"] == 1.0  # no units yet


def test_srm_table(run):
    text = ok(run("stats", "srm", "--observed", "5000,5400", "--weights", "50,50")).stdout
    assert (
        "SRM check · Pearson chi-square goodness of fit · 2 variants · 10,400 units · flagged below p = 0.001" in text
    )
    assert re.search(r"1\s+│ 5,000\s+│ 5,200\.0\s+│ 48\.08%\s+│ 50\.00%\s+│ -200\.0", row(text, "1"))
    assert "χ² = 15.38 · 1 degree of freedom · p-value 8.77e-05 → MISMATCH — don't trust the results" in text
    fine = ok(run("stats", "srm", "--observed", "3300,3350,3450")).stdout
    assert "2 degrees of freedom" in fine and "→ no mismatch" in fine


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--observed", "100"], "--observed: an SRM test needs at least two variants, not 1"),
        (["--observed", "100,x"], "--observed: count 'x' is not a number"),
        (["--observed", "100,2.5"], "--observed: count must be a whole number, not '2.5'"),
        (["--observed", "100,-3"], "--observed: count must be ≥ 0, not -3"),
        (["--observed", "100,200", "--weights", "1,2,3"], "--weights: 3 weight(s) for 2 variants"),
        (["--observed", "100,200,300", "--weights", "1,2"], "--weights: 2 weight(s) for 3 variants"),
        (["--observed", "100,200", "--weights", "1,-2"], "--weights: weights must be positive, not -2"),
        (["--observed", "100,200", "--weights", "1,inf"], "--weights: weight must be a finite number"),
        (["--observed", "100,200", "--threshold", "2"], "--threshold must lie strictly between 0 and 1, not 2"),
        (["--weights", "1,1"], "give --observed N1,N2[,...]"),
    ],
)
def test_srm_bad_input_is_one_line_and_exit_2(run, args, message):
    one_line_error(run("stats", "srm", *args), message)


def test_stats_help_lists_both_commands(run):
    text = ok(run("stats", "--help")).stdout
    assert "ab" in text and "srm" in text


# ------------------------------------------------------------------ stats power


def test_power_json_is_the_engine_and_statsmodels(run) -> None:
    from statsmodels.stats.power import NormalIndPower

    from okrflow.metrics.experiments import PowerPlan, detectable_effect_with_units, power_with_units, required_units

    got = as_json(run("stats", "power", "--metric", "mean", "--baseline", "200,50", "--effect", "10", "--absolute",
                      "--weights", "80,20", "--units", "2000", "--json"))  # fmt: skip
    plan = PowerPlan.for_mean(200, 50)
    nobs1 = NormalIndPower().solve_power(effect_size=10 / 50, alpha=0.05, power=0.8, ratio=0.25)
    assert (
        got["required_units"] == math.ceil(nobs1 / 0.8) == required_units(plan, 10, relative=False, shares=(0.8, 0.2))
    )
    assert got["per_variant"] == [math.ceil(got["required_units"] * 0.8), math.ceil(got["required_units"] * 0.2)]
    assert got["effect"] == {"absolute": 10.0, "relative": 0.05} and got["method"] == "fixed"
    assert got["power_at_units"] == approx(NormalIndPower().power(effect_size=0.2, nobs1=1600, alpha=0.05, ratio=0.25))
    assert got["power_at_units"] == approx(power_with_units(plan, 10, 2000, relative=False, shares=(0.8, 0.2)))
    mde = detectable_effect_with_units(plan, 2000, shares=(0.8, 0.2))
    assert got["detectable_effect"] == {"absolute": approx(mde.absolute), "relative": approx(mde.relative)}


def test_power_proportion_sequential_lower_is_better_and_three_arms(run) -> None:
    from okrflow.metrics.experiments import PowerPlan, required_units

    got = as_json(run("stats", "power", "--metric", "proportion", "--baseline", "0.2", "--effect", "0.1",
                      "--lower-is-better", "--sequential", "--weights", "50,30,20", "--json"))  # fmt: skip
    plan = PowerPlan.for_proportion(0.2)
    # the smallest arm (20 %) limits the plan; the effect is a 10 % drop, to 18 %
    want = required_units(plan, -0.1, shares=(0.5, 0.2), method=Method.SEQUENTIAL)
    assert got["required_units"] == want > required_units(plan, -0.1, shares=(0.5, 0.2))
    assert got["effect"]["absolute"] == approx(-0.02) and got["units"] is None and got["detectable_effect"] is None
    text = ok(run("stats", "power", "--metric", "proportion", "--baseline", "0.2", "--effect", "0.1",
                  "--lower-is-better", "--units", "1000")).stdout  # fmt: skip
    assert "from the baseline to 18%" in text and "underpowered" in row(text, "power with --units")
    assert f"{required_units(plan, -0.1):,}" in row(text, "units needed")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --metric"),
        (("--metric", "proportion", "--effect", "0.1"), "give --baseline RATE"),
        (("--metric", "proportion", "--baseline", "1.2", "--effect", "0.1"), "--baseline: a baseline conversion"),
        (("--metric", "mean", "--baseline", "200", "--effect", "0.1"), "a mean takes MEAN,STD"),
        (("--metric", "mean", "--baseline", "200,0", "--effect", "0.1"), "STD must be above 0"),
        (("--metric", "proportion", "--baseline", "0.5"), "give --effect"),
        (("--metric", "proportion", "--baseline", "0.5", "--effect", "-0.1"), "positive size"),
        (("--metric", "proportion", "--baseline", "0.5", "--effect", "0.1", "--power", "1"), "--power must lie"),
        (("--metric", "proportion", "--baseline", "0.9", "--effect", "0.2"), "strictly between 0 and 1"),
        (("--metric", "proportion", "--baseline", "0.5", "--effect", "0.1", "--units", "x"), "--units"),
        (("--metric", "proportion", "--baseline", "0.5", "--effect", "0.1", "--units", "1"), "at least 2 units"),
        (("--metric", "proportion", "--baseline", "0.5", "--effect", "0.1", "--sequential-tuning", "9"), "only with"),
    ],
)
def test_power_bad_input_is_one_line(run, args, message) -> None:
    one_line_error(run("stats", "power", *args), message)
