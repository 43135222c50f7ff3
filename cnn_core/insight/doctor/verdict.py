"""The training doctor's verdict on a stored run, cached per run folder version.

Run tables (Home, Runs, Compare) and status lines call this for every run on every
render, and the doctor needs two files a `RunSummary` does not hold (the epoch
history and the test evaluation). So the findings are kept per run folder, keyed by
the run's state and the (mtime, size, inode) of every file they come from: a render
costs a few `stat` calls, and a run is diagnosed again only when one of its files
changed. `verdict` picks what a status line says about a completed run: its most
serious problem or warning, in a few words ("learned nothing").
"""

from __future__ import annotations

from cnn_core.base.errors import UserError
from cnn_core.insight.doctor.diagnosis import diagnose
from cnn_core.insight.doctor.findings import Finding
from cnn_core.schema.records import RunState
from cnn_core.store.runs import RunSummary, files_signature
from cnn_core.store.signed_cache import SignedCache

# A few words per finding for a status cell: "completed · learned nothing".
VERDICT_WORDS = {
    "non_finite": "loss became NaN",
    "diverging": "loss diverged",
    "collapsed": "learned nothing (one class)",
    "chance": "learned nothing",
    "overfitting": "overfitting",
    "underfitting": "underfitting",
    "weak_class": "one weak class",
    "imbalance": "imbalanced classes",
}

# Runs kept; shared by the server's sessions (findings are frozen). Bounded like the
# run store's own read cache.
CACHE_SIZE = 512
_findings: SignedCache[tuple[Finding, ...]] = SignedCache(CACHE_SIZE)


def _signature(run: RunSummary) -> tuple:
    """The run's state and the signature of the files its findings come from."""
    return (run.state, files_signature(run))


def _diagnosed(run: RunSummary) -> tuple[Finding, ...]:
    try:
        history, evaluation = run.read_history(), run.read_evaluation()
    except UserError:  # a record from a newer CNN Studio: nothing to judge
        return ()
    n_classes = len(run.dataset.class_names) if run.dataset else None
    counts = run.status.train_class_counts if run.status else None
    return tuple(diagnose(run.config, history, evaluation, n_classes, counts))


def run_findings(run: RunSummary) -> list[Finding]:
    """The doctor's findings for a finished run, most serious first (none while it
    trains, or for a broken run); read from its files once per version of them."""
    if not run.state.final or run.config is None:
        return []
    signature = _signature(run)
    cached = _findings.get(run.path, signature)
    if cached is not None:
        return list(cached)
    findings = _diagnosed(run)
    if signature == _signature(run):  # not written while being read
        _findings.put(run.path, signature, findings)
    return list(findings)


def verdict(run: RunSummary) -> Finding | None:
    """What keeps a completed run from being a plain success: its most serious problem
    or warning (notes do not count); None for any other state or a healthy run."""
    if run.state != RunState.COMPLETED:
        return None
    return next((f for f in run_findings(run) if f.severity != "info"), None)


def verdict_words(finding: Finding) -> str:
    """The finding in a few words for a status cell ("learned nothing")."""
    return VERDICT_WORDS.get(finding.kind, finding.title[:1].lower() + finding.title[1:])
