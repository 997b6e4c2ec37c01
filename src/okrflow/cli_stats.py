"""The analyst's calculator: ``okrflow stats ab``, ``okrflow stats srm`` and ``okrflow stats power``.

Registered on :data:`okrflow.cli.app` (imported at the end of ``okrflow.cli``). Each command parses summary
statistics typed on the command line and hands them to the statistics engine (``metrics.experiments``:
:func:`~okrflow.metrics.experiments.compare`, :func:`~okrflow.metrics.experiments.srm_test`,
:func:`~okrflow.metrics.experiments.required_units` and friends); it computes
nothing itself. No database is opened, so the commands work without ``okrflow init``. Errors are one line on
stderr with the exit code of their class (bad input: 2); ``--json`` prints plain numbers, never NaN.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from okrflow.cli import _print_table, app, out
from okrflow.domain.errors import InvalidInputError
from okrflow.metrics.experiments import (
    DEFAULT_ALPHA,
    DEFAULT_SEQUENTIAL_TUNING,
    DEFAULT_SRM_THRESHOLD,
    Comparison,
    Effect,
    MeanSummary,
    Method,
    MinimumDetectableEffect,
    PowerPlan,
    ProportionSummary,
    Scale,
    SrmResult,
    Summary,
    compare,
    detectable_effect_with_units,
    power_with_units,
    required_units,
    srm_test,
)

stats_app = typer.Typer(
    help="The analyst's calculator: A/B test readouts, sample-ratio-mismatch checks and power analysis from "
    "summary statistics (no database needed).",
    no_args_is_help=True,
)
app.add_typer(stats_app, name="stats")

METRICS = ("proportion", "mean")
SHAPE = {"proportion": "N,CONVERSIONS", "mean": "N,SUM,SUM_SQUARES"}

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON (plain numbers, no NaN).")]


# ------------------------------------------------------------------ parsing (every problem is one line, exit 2)


def _number(text: str, what: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidInputError(f"{option}: {what} {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise InvalidInputError(f"{option}: {what} must be a finite number, not {text.strip()!r}")
    return value


def _whole(text: str, what: str, option: str) -> int:
    """A count: ``1000`` (or ``1000.0`` / ``1e3`` from a spreadsheet) as an int ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        number = _number(text, what, option)
        if not number.is_integer():
            raise InvalidInputError(f"{option}: {what} must be a whole number, not {text.strip()!r}") from None
        value = int(number)
    if value < 0:
        raise InvalidInputError(f"{option}: {what} must be ≥ 0, not {value}")
    return value


def _parts(raw: str, option: str, shape: str) -> list[str]:
    parts = [p.strip() for p in raw.split(",")]
    if any(not p for p in parts):
        raise InvalidInputError(f"{option}: {raw!r} has an empty value; write {shape}")
    return parts


def _probability(raw: str, option: str) -> float:
    value = _number(raw, "the value", option)
    if not 0 < value < 1:
        raise InvalidInputError(f"{option} must lie strictly between 0 and 1, not {raw.strip()}")
    return value


def _metric(raw: str | None) -> str:
    if raw is None:
        raise InvalidInputError(
            "give --metric proportion (--control N,CONVERSIONS) or --metric mean (--control N,SUM,SUM_SQUARES)"
        )
    metric = raw.strip().lower()
    if metric not in METRICS:
        raise InvalidInputError(f"--metric must be proportion or mean, not {raw!r}")
    return metric


def _summary(raw: str | None, option: str, metric: str) -> Summary:
    """``N,CONVERSIONS`` (proportion) or ``N,SUM,SUM_SQUARES`` (mean) as the engine's summary."""
    if raw is None:
        raise InvalidInputError(f"give {option} {SHAPE[metric]}")
    parts = _parts(raw, option, SHAPE[metric])
    if metric == "proportion" and len(parts) != 2:
        hint = "; SUM_SQUARES is only for --metric mean" if len(parts) == 3 else ""
        raise InvalidInputError(
            f"{option}: a proportion takes N,CONVERSIONS (2 values), not {len(parts)} ({raw!r}){hint}"
        )
    if metric == "mean" and len(parts) != 3:
        hint = " (SUM_SQUARES is missing: Σx² of the values)" if len(parts) == 2 else ""
        raise InvalidInputError(f"{option}: a mean takes N,SUM,SUM_SQUARES (3 values), not {len(parts)}{hint}")
    n = _whole(parts[0], "N", option)
    try:
        if metric == "proportion":
            return ProportionSummary(n, _whole(parts[1], "CONVERSIONS", option))
        return MeanSummary(n, _number(parts[1], "SUM", option), _number(parts[2], "SUM_SQUARES", option))
    except InvalidInputError as exc:
        if exc.message.startswith(option):
            raise
        raise InvalidInputError(f"{option}: {exc.message}") from None


def _weights(raw: str | None, count: int, example: str) -> tuple[float, ...]:
    """The planned split, any positive scale (50,50 = 1,1); equal when not given."""
    if raw is None:
        return (1.0,) * count
    option = "--weights"
    weights = tuple(_number(p, "weight", option) for p in _parts(raw, option, "W1,W2"))
    if len(weights) != count:
        raise InvalidInputError(
            f"{option}: {len(weights)} weight(s) for {count} variants; give one weight per variant, e.g. {example}"
        )
    for w in weights:
        if w <= 0:
            raise InvalidInputError(f"{option}: weights must be positive, not {w:g}")
    return weights


# ------------------------------------------------------------------ formatting


def _decimals(values: tuple[float, ...], digits: int = 4) -> int | None:
    """Decimals that show the largest of ``values`` to ``digits`` significant digits (``None``: use an exponent)."""
    largest = max(abs(v) for v in values)
    if largest == 0:
        return digits - 1
    magnitude = math.floor(math.log10(largest))
    decimals = max(0, digits - 1 - magnitude)
    return None if decimals > 10 or magnitude >= 15 else decimals


def _sig(value: float, digits: int = 4, sign: bool = True, decimals: int | None = -1) -> str:
    """``value`` to ``digits`` significant digits without an exponent (unless tiny or huge); ``decimals`` fixes
    the decimals instead (to line up a row of numbers)."""
    plus = "+" if sign and value != 0 else ""
    if decimals == -1:
        decimals = _decimals((value,), digits)
    if decimals is None:
        return f"{value:{plus}.{digits - 1}e}"
    return f"{value:{plus},.{decimals}f}"


def _plain(value: float) -> str:
    """An input echoed as typed: whole numbers without decimals, else six significant digits."""
    return f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else _sig(value, 6, sign=False)


def _p(value: float) -> str:
    return f"{value:.4f}" if value >= 0.001 else f"{value:.2e}"


def _chance(value: float) -> str:
    return f"{value * 100:.2f}%"


def _level(alpha: float) -> str:
    return f"{round(100 * (1 - alpha), 6):g}%"


def _on_scale(values: tuple[float, ...], scale: Scale, metric: str, sign: bool = True) -> list[str]:
    """Effects (or risks) on their scale with common decimals: a lift in %, a difference of rates in percentage
    points (pp), a difference of means as it is."""
    factor, unit = (100.0, "%") if scale is Scale.RELATIVE else (100.0, " pp") if metric == "proportion" else (1.0, "")
    scaled = tuple(v * factor for v in values)
    decimals = _decimals(scaled)
    return [_sig(v, sign=sign, decimals=decimals) + unit for v in scaled]


def _srm_verdict(srm: SrmResult) -> str:
    if srm.mismatch:
        return "[bold red]MISMATCH — don't trust the results[/bold red]"
    return "[green]no mismatch[/green]"


# ------------------------------------------------------------------ JSON


def _summary_json(s: Summary) -> dict[str, Any]:
    fields: dict[str, Any] = {"n": s.n}
    if isinstance(s, ProportionSummary):
        fields["conversions"] = s.conversions
    else:
        fields |= {"sum": s.sum, "sum_squares": s.sum_squares}
    return fields | {"mean": float(s.mean), "variance": float(s.variance)}


def _effect_json(e: Effect | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "effect": float(e.estimate),
        "ci": [float(e.ci[0]), float(e.ci[1])],
        "p_value": float(e.p_value),
        "std_error": float(e.std_error),
        "significant": e.significant,
    }


def _srm_json(srm: SrmResult, weights: tuple[float, ...]) -> dict[str, Any]:
    return {
        "p_value": float(srm.p_value),
        "mismatch": srm.mismatch,
        "threshold": float(srm.threshold),
        "chi_square": float(srm.chi_square),
        "dof": srm.dof,
        "observed": list(srm.observed),
        "expected": [float(e) for e in srm.expected],
        "weights": list(weights),
    }


def _ab_json(r: Comparison, metric: str, alpha: float, tuning: float | None, weights: tuple[float, ...]) -> str:
    b = r.bayesian
    payload = {
        "metric": metric,
        "method": r.absolute.method.value,
        "sequential_tuning": tuning,
        "alpha": alpha,
        "lower_is_better": r.lower_is_better,
        "control": _summary_json(r.control),
        "treatment": _summary_json(r.treatment),
        "absolute": _effect_json(r.absolute),
        "relative": _effect_json(r.relative),
        "chance_to_win": float(b.chance_to_win),
        "risk": [float(b.risk_control), float(b.risk_treatment)],
        "bayesian": {
            "scale": b.scale.value,
            "mean": float(b.mean),
            "std": float(b.std),
            "credible_interval": [float(b.credible_interval[0]), float(b.credible_interval[1])],
        },
        "srm": _srm_json(r.srm, weights),
        "notes": list(r.notes),
    }
    # The engine never returns NaN; allow_nan=False makes sure no invalid JSON could ever leave here.
    return json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False)


# ------------------------------------------------------------------ tables


def _variants_table(r: Comparison, metric: str, weights: tuple[float, ...]) -> Table:
    if metric == "proportion":
        table = Table("variant", "units (n)", "conversions", "conversion rate", "share of units (planned)")
    else:
        table = Table("variant", "units (n)", "sum", "sum of squares", "mean", "std dev", "share of units (planned)")
    total = r.control.n + r.treatment.n
    for name, s, w in (("control", r.control, weights[0]), ("treatment", r.treatment, weights[1])):
        share = f"{s.n / total * 100:.2f}% ({w / sum(weights) * 100:.2f}%)"
        if isinstance(s, ProportionSummary):
            table.add_row(name, f"{s.n:,}", f"{s.conversions:,}", f"{s.mean * 100:.2f}%", share)
        else:
            table.add_row(
                name, f"{s.n:,}", _plain(s.sum), _plain(s.sum_squares),
                _sig(s.mean, sign=False), _sig(math.sqrt(s.variance), sign=False), share,
            )  # fmt: skip
    return table


def _effects_table(r: Comparison, metric: str, alpha: float) -> Table:
    level = _level(alpha)
    table = Table("scale", "effect", f"{level} CI", "p-value", "verdict", title="Effect of treatment vs control")
    for label, e in (("absolute", r.absolute), ("relative (lift)", r.relative)):
        if e is None:
            table.add_row(label, "-", "-", "-", "[dim]undefined (see the note)[/dim]")
            continue
        if e.significant:
            better = "better" if e.improvement > 0 else "worse"
            verdict = f"[bold]significant at α = {alpha:g}: treatment {better}[/bold]"
        else:
            verdict = f"not significant at α = {alpha:g}"
        estimate, low, high = _on_scale((e.estimate, *e.ci), e.scale, metric)
        table.add_row(
            label,
            estimate,
            f"{low} … {high}",
            _p(e.p_value),
            verdict,
        )
    return table


def _decision_table(r: Comparison, metric: str) -> Table:
    b = r.bayesian
    scale = "lift over the control mean" if b.scale is Scale.RELATIVE else "absolute scale"
    better = "lower" if r.lower_is_better else "higher"
    risk_control, risk_treatment = _on_scale(b.risk, b.scale, metric, sign=False)
    srm = r.srm
    table = Table("figure", "value", "read as", title="Decision figures")
    table.add_row("chance to win", _chance(b.chance_to_win), f"P(treatment is better: {better}) · Bayesian, flat prior")
    table.add_row("risk of control", risk_control, f"expected loss if control is kept and is worse ({scale})")
    table.add_row("risk of treatment", risk_treatment, f"expected loss if treatment ships and is worse ({scale})")
    table.add_row(
        "SRM p-value",
        _p(srm.p_value),
        f"{_srm_verdict(srm)} (units vs the planned split; flagged below {srm.threshold:g})",
    )
    return table


# ------------------------------------------------------------------ commands


@stats_app.command("ab")
def stats_ab(
    metric: Annotated[
        str | None,
        typer.Option(
            metavar="proportion|mean",
            help="proportion: conversions out of units (--control N,CONVERSIONS); mean: a per-unit value "
            "(--control N,SUM,SUM_SQUARES). Required.",
        ),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option(
            metavar="N,SUM[,SUM_SQUARES]",
            help="Control: N,CONVERSIONS or N,SUM,SUM_SQUARES (no thousands separators). Required.",
        ),
    ] = None,
    treatment: Annotated[
        str | None,
        typer.Option(metavar="N,SUM[,SUM_SQUARES]", help="Treatment: N,CONVERSIONS or N,SUM,SUM_SQUARES. Required."),
    ] = None,
    alpha: Annotated[
        str, typer.Option(metavar="ALPHA", help="Significance level, two-sided: the CI is (1 − α).")
    ] = str(DEFAULT_ALPHA),
    lower_is_better: Annotated[
        bool,
        typer.Option(
            "--lower-is-better", help="An inverse metric (load time, error rate): chance to win and risks flip."
        ),
    ] = False,
    sequential: Annotated[
        bool,
        typer.Option(
            "--sequential", help="Always-valid interval and p-value: may be read at every look (peeking-safe)."
        ),
    ] = False,
    sequential_tuning: Annotated[
        str | None,
        typer.Option(
            metavar="N",
            help=f"With --sequential: total units at which the interval is tightest (the planned sample; "
            f"default {DEFAULT_SEQUENTIAL_TUNING:g}).",
        ),
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(metavar="W1,W2", help="Planned split control,treatment for the SRM check (default 50,50)."),
    ] = None,
    srm_threshold: Annotated[
        str, typer.Option(metavar="P", help="Flag a sample-ratio mismatch below this p-value.")
    ] = str(DEFAULT_SRM_THRESHOLD),
    as_json: JsonOption = False,
) -> None:
    """Treatment vs control from summary statistics: absolute and relative effect with CI and p-value (Welch t,
    or always-valid with --sequential), Bayesian chance to win and risk, and the SRM check of the split."""
    kind = _metric(metric)
    c = _summary(control, "--control", kind)
    t = _summary(treatment, "--treatment", kind)
    a = _probability(alpha, "--alpha")
    threshold = _probability(srm_threshold, "--srm-threshold")
    split = _weights(weights, 2, "50,50 (control,treatment)")
    tuning: float | None = None
    if sequential_tuning is not None:
        if not sequential:
            raise InvalidInputError("--sequential-tuning applies only with --sequential")
        tuning = _number(sequential_tuning, "N", "--sequential-tuning")
        if tuning <= 0:
            raise InvalidInputError(f"--sequential-tuning must be positive, not {sequential_tuning.strip()}")
    elif sequential:
        tuning = DEFAULT_SEQUENTIAL_TUNING
    r = compare(
        c, t, alpha=a, lower_is_better=lower_is_better, method=Method.SEQUENTIAL if sequential else Method.FIXED,
        sequential_tuning=tuning or DEFAULT_SEQUENTIAL_TUNING, split=(split[0], split[1]), srm_threshold=threshold,
    )  # fmt: skip
    if as_json:
        typer.echo(_ab_json(r, kind, a, tuning, split))
        return
    what = "conversion rate (proportion)" if kind == "proportion" else "mean"
    method = (
        f"always-valid sequential test (tuning N* = {tuning:g}), valid at every look"
        if sequential
        else "fixed-horizon Welch t-test, valid at one planned look"
    )
    direction = "lower is better" if lower_is_better else "higher is better"
    out.print(f"[bold]A/B test[/bold] · {what} · {direction} · {method} · α = {a:g}")
    _print_table(_variants_table(r, kind, split))
    _print_table(_effects_table(r, kind, a))
    _print_table(_decision_table(r, kind))
    out.print(
        "[dim]effects are treatment − control (relative: over the control mean)"
        + ("; lower is better, so a negative effect is an improvement" if lower_is_better else "")
        + "[/dim]"
    )
    for note in r.notes:
        style = "bold red" if note.startswith("sample ratio mismatch") else "yellow"
        out.print(f"[{style}]note:[/{style}] {escape(note)}")


@stats_app.command("srm")
def stats_srm(
    observed: Annotated[
        str | None, typer.Option(metavar="N1,N2[,...]", help="Units observed per variant. Required.")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option(metavar="W1,W2[,...]", help="Planned split, any positive scale, e.g. 50,50 (default: equal)."),
    ] = None,
    threshold: Annotated[
        str,
        typer.Option("--threshold", "--srm-threshold", metavar="P", help="Flag a mismatch below this p-value."),
    ] = str(DEFAULT_SRM_THRESHOLD),
    as_json: JsonOption = False,
) -> None:
    """Sample-ratio mismatch: Pearson's chi-square test of the units per variant against the planned split."""
    if observed is None:
        raise InvalidInputError("give --observed N1,N2[,...], the units per variant")
    counts = [_whole(p, "count", "--observed") for p in _parts(observed, "--observed", "N1,N2")]
    if len(counts) < 2:
        raise InvalidInputError(f"--observed: an SRM test needs at least two variants, not {len(counts)}")
    split = _weights(weights, len(counts), ",".join(["1"] * len(counts)))
    limit = _probability(threshold, "--threshold")
    srm = srm_test(counts, split, threshold=limit)
    if as_json:
        typer.echo(json.dumps(_srm_json(srm, split), indent=2, allow_nan=False))
        return
    out.print(
        f"[bold]SRM check[/bold] · Pearson chi-square goodness of fit · {len(counts)} variants · "
        f"{sum(counts):,} units · flagged below p = {limit:g}"
    )
    total = sum(counts)
    table = Table("variant", "observed", "expected", "actual share", "planned share", "difference")
    for i, (o, e, w) in enumerate(zip(srm.observed, srm.expected, split, strict=True), start=1):
        table.add_row(
            str(i), f"{o:,}", f"{e:,.1f}", f"{o / total * 100:.2f}%" if total else "-",
            f"{w / sum(split) * 100:.2f}%", f"{o - e:+,.1f}",
        )  # fmt: skip
    _print_table(table)
    out.print(
        f"χ² = {srm.chi_square:.4g} · {srm.dof} degree{'s' if srm.dof != 1 else ''} of freedom · "
        f"p-value {_p(srm.p_value)} → {_srm_verdict(srm)}"
    )


def _tuning(sequential: bool, raw: str | None) -> float | None:
    if raw is None:
        return DEFAULT_SEQUENTIAL_TUNING if sequential else None
    if not sequential:
        raise InvalidInputError("--sequential-tuning applies only with --sequential")
    tuning = _number(raw, "N", "--sequential-tuning")
    if tuning <= 0:
        raise InvalidInputError(f"--sequential-tuning must be positive, not {raw.strip()}")
    return tuning


def _plan(kind: str, raw: str | None, alpha: float, power: float) -> PowerPlan:
    """``--baseline RATE`` (proportion) or ``--baseline MEAN,STD`` (mean) as the engine's plan."""
    shape = "RATE (a conversion rate, e.g. 0.12)" if kind == "proportion" else "MEAN,STD (e.g. 41.5,12)"
    if raw is None:
        raise InvalidInputError(f"give --baseline {shape}")
    parts = _parts(raw, "--baseline", shape)
    if len(parts) != (1 if kind == "proportion" else 2):
        raise InvalidInputError(f"--baseline: a {kind} takes {shape}, not {raw!r}")
    try:
        if kind == "proportion":
            return PowerPlan.for_proportion(_number(parts[0], "RATE", "--baseline"), alpha=alpha, power=power)
        std = _number(parts[1], "STD", "--baseline")
        if std <= 0:
            raise InvalidInputError(f"--baseline: STD must be above 0, not {parts[1]}")
        return PowerPlan.for_mean(_number(parts[0], "MEAN", "--baseline"), std, alpha=alpha, power=power)
    except InvalidInputError as exc:
        if exc.message.startswith("--baseline"):
            raise
        raise InvalidInputError(f"--baseline: {exc.message}") from None


def _mde_json(mde: MinimumDetectableEffect | None) -> dict[str, Any] | None:
    return None if mde is None else {"absolute": float(mde.absolute), "relative": mde.relative}


@stats_app.command("power")
def stats_power(
    metric: Annotated[
        str | None,
        typer.Option(
            metavar="proportion|mean",
            help="proportion: a conversion rate (--baseline RATE); mean: a per-unit value (--baseline MEAN,STD). "
            "Required.",
        ),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(metavar="RATE|MEAN,STD", help="The control's rate, or mean and standard deviation. Required."),
    ] = None,
    effect: Annotated[
        str | None,
        typer.Option(
            metavar="EFFECT",
            help="The effect to detect, a positive size: relative (0.15 = 15 %) unless --absolute. Required.",
        ),
    ] = None,
    absolute: Annotated[
        bool, typer.Option("--absolute", help="--effect is absolute (a rate difference, or in the metric's unit).")
    ] = False,
    lower_is_better: Annotated[
        bool, typer.Option("--lower-is-better", help="The metric should decrease: the effect is a drop.")
    ] = False,
    alpha: Annotated[str, typer.Option(metavar="ALPHA", help="Significance level, two-sided.")] = str(DEFAULT_ALPHA),
    power: Annotated[str, typer.Option(metavar="POWER", help="Power to reach, 1 − β.")] = "0.8",
    weights: Annotated[
        str | None,
        typer.Option(metavar="W1,W2[,...]", help="Planned split, control first (default 50,50); more arms allowed."),
    ] = None,
    sequential: Annotated[
        bool,
        typer.Option("--sequential", help="Plan for always-valid intervals (read at every look): needs more units."),
    ] = False,
    sequential_tuning: Annotated[
        str | None,
        typer.Option(
            metavar="N", help=f"With --sequential: the tuning N* (default {DEFAULT_SEQUENTIAL_TUNING:g} units)."
        ),
    ] = None,
    units: Annotated[
        str | None,
        typer.Option(metavar="N", help="Units you have or plan (all variants): the power and the detectable effect."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Power analysis of a plan: units needed to detect an effect at α with the power asked for (any split,
    fixed-horizon or always-valid), and with --units the power and minimum detectable effect of that sample."""
    kind = _metric(metric)
    a = _probability(alpha, "--alpha")
    pw = _probability(power, "--power")
    plan = _plan(kind, baseline, a, pw)
    if effect is None:
        raise InvalidInputError("give --effect, the effect to detect (relative: 0.15 = 15 %; or --absolute)")
    size = _number(effect, "the effect", "--effect")
    if size <= 0:
        raise InvalidInputError(f"--effect is a positive size (use --lower-is-better for a drop), not {effect.strip()}")
    signed = -size if lower_is_better else size
    split = _weights(weights, len(weights.split(",")) if weights else 2, "50,50")
    if len(split) < 2:
        raise InvalidInputError("--weights: give the control's and at least one treatment's share")
    shares = (split[0] / sum(split), min(split[1:]) / sum(split))
    tuning = _tuning(sequential, sequential_tuning)
    method = Method.SEQUENTIAL if sequential else Method.FIXED
    how: dict[str, Any] = {"shares": shares, "method": method, "tuning": tuning or DEFAULT_SEQUENTIAL_TUNING}
    have = _whole(units, "N", "--units") if units is not None else None
    if have is not None and have < 2:
        raise InvalidInputError(f"--units: a sample needs at least 2 units, not {have}")
    needed = required_units(plan, signed, relative=not absolute, **how)
    delta = signed * plan.baseline_mean if not absolute else signed
    power_at = power_with_units(plan, signed, have, relative=not absolute, **how) if have is not None else None
    mde = detectable_effect_with_units(plan, have, lower_is_better=lower_is_better, **how) if have is not None else None
    if as_json:
        payload = {
            "metric": kind,
            "baseline": {"mean": plan.baseline_mean, "std": math.sqrt(plan.baseline_variance)},
            "effect": {"absolute": delta, "relative": delta / plan.baseline_mean if plan.baseline_mean else None},
            "alpha": a,
            "power": pw,
            "method": method.value,
            "sequential_tuning": tuning,
            "weights": list(split),
            "required_units": needed,
            "per_variant": [math.ceil(needed * w / sum(split) - 1e-9) for w in split],
            "units": have,
            "power_at_units": power_at,
            "detectable_effect": _mde_json(mde),
        }
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False))
        return
    what = (
        f"conversion rate {plan.baseline_mean * 100:.4g}%"
        if kind == "proportion"
        else (f"mean {_plain(plan.baseline_mean)} (std {_plain(math.sqrt(plan.baseline_variance))})")
    )
    how_read = (
        f"always-valid sequential test (tuning N* = {tuning:g})" if sequential else "fixed-horizon test, one look"
    )
    out.print(f"[bold]Power analysis[/bold] · {what} · {how_read} · α = {a:g} · power {pw * 100:g}%")
    scale = Scale.ABSOLUTE if absolute else Scale.RELATIVE
    target = (
        f"{(plan.baseline_mean + delta) * 100:.4g}%" if kind == "proportion" else _plain(plan.baseline_mean + delta)
    )
    table = Table("figure", "value", "read as")
    table.add_row(
        "effect to detect",
        _on_scale((signed,), scale, kind)[0],
        ("a drop (lower is better)" if lower_is_better else "a rise") + f" from the baseline to {target}",
    )
    split_text = " / ".join(f"{w / sum(split) * 100:.4g}%" for w in split)
    per_variant = " · ".join(f"{math.ceil(needed * w / sum(split) - 1e-9):,}" for w in split)
    table.add_row("units needed", f"{needed:,}", f"over all variants, split {split_text}: {per_variant} per variant")
    if have is not None and power_at is not None and mde is not None:
        enough = "[green]enough[/green]" if power_at >= pw else "[yellow]underpowered[/yellow]"
        table.add_row("power with --units", _chance(power_at), f"{have:,} units: {enough} for the effect above")
        detectable = _on_scale(
            (mde.relative if mde.relative is not None else mde.absolute,),
            scale if mde.relative is not None else Scale.ABSOLUTE,
            kind,
        )[0]
        table.add_row(
            "detectable effect", detectable, f"the smallest effect {have:,} units detect at {pw * 100:g}% power"
        )
    _print_table(table)
