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
:mod:`.results`                :func:`read_results`: a tree of experiment runs as DataFrames
:mod:`.report`                 :func:`build_report`: tables, figures and ``index.html``
:mod:`.repeated`               :func:`run_repeated_benchmarks`: an MLP across precisions
:mod:`.validation`             :func:`validate`: predicted against measured energy and runtime
=============================  ==================================================================

The names below are importable from ``layerpower.stats`` directly; each module loads on first use.
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
    "Report": "report",
    "build_report": "report",
    "run_repeated_benchmarks": "repeated",
    "validate": "validation",
    "validation_summary": "validation",
    "StatsWarning": "_warn",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
