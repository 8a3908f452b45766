"""Statistics over repeated runs, analysis of experiment results, and validation of predictions.

=============================  ==================================================================
module                         what it offers
=============================  ==================================================================
:mod:`.summary`                mean, std, 95% CI (Student's t or 1.96 × SEM), CV, consistency
:mod:`.variability`            seed variability per configuration; share of consistent metrics
:mod:`.bootstrap`              bootstrap and stratified bootstrap CIs, interquartile mean,
                               probability of improvement
:mod:`.correlation`            Pearson and Spearman with p-values and a strength in words
:mod:`.pareto`                 Pareto frontier over objectives with min/max directions
:mod:`.aggregate`              rliable's aggregate panel: median, IQM, mean, optimality gap, with
                               stratified bootstrap CIs
:mod:`.headline`               best configuration per metric, P(beats the runner-up), consistency
:mod:`.names`                  display names, min/max directions, vocabulary order of values
:mod:`.results`                :func:`read_results`: a tree of experiment runs as DataFrames
:mod:`.report`                 :func:`build_report`: tables, figures and ``index.html``
:mod:`.validation`             :func:`validate`: predicted against measured energy and runtime
=============================  ==================================================================

The names below are importable from ``layerpower.stats`` directly; each module loads on first use.
``run_repeated_benchmarks`` (an MLP across precisions) is an experiment: it lives in
:mod:`layerpower.experiments.repeated` and is re-exported here, lazily, for existing callers.

Layering: :mod:`layerpower.stats` imports from :mod:`layerpower.experiments` only the run-folder format
(:mod:`layerpower.experiments.config`); the experiment drivers import statistics from here, never the
other way round.
"""

from __future__ import annotations

from layerpower._lazy import lazy_exports

#: public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "Summary": "summary",
    "summarize": "summary",
    "summarize_frame": "summary",
    "CI_METHODS": "summary",
    "seed_variability": "variability",
    "consistency_share": "variability",
    "Interval": "bootstrap",
    "bootstrap_ci": "bootstrap",
    "stratified_bootstrap_ci": "bootstrap",
    "interquartile_mean": "bootstrap",
    "probability_of_improvement": "bootstrap",
    "Correlation": "correlation",
    "correlate": "correlation",
    "correlation_strength": "correlation",
    "correlation_table": "correlation",
    "pareto_mask": "pareto",
    "pareto_front": "pareto",
    "mark_pareto": "pareto",
    "ResultsFrame": "results",
    "read_results": "results",
    "parse_run_name": "results",
    "aggregate_panel": "aggregate",
    "aggregate_median": "aggregate",
    "aggregate_iqm": "aggregate",
    "aggregate_mean": "aggregate",
    "aggregate_optimality_gap": "aggregate",
    "headline_table": "headline",
    "default_direction": "names",
    "Report": "report",
    "build_report": "report",
    "validate": "validation",
    "validation_summary": "validation",
    "StatsWarning": "_warn",
}

#: names defined above this package, in :mod:`layerpower.experiments` (loaded on first use, like the rest)
_EXPERIMENT_EXPORTS: dict[str, str] = {"run_repeated_benchmarks": "layerpower.experiments.repeated"}

__all__ = sorted({*_EXPORTS, *_EXPERIMENT_EXPORTS})

_stats_getattr, _stats_dir = lazy_exports(__name__, _EXPORTS)
_experiments_getattr, _ = lazy_exports("layerpower.experiments", _EXPERIMENT_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPERIMENT_EXPORTS:
        return _experiments_getattr(name)
    return _stats_getattr(name)


def __dir__() -> list[str]:
    return sorted({*_stats_dir(), *_EXPERIMENT_EXPORTS})
