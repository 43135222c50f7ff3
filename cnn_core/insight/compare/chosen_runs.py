"""Which runs the Compare page shows: run ids from a URL, filters, what changes while they train.

Pure logic over the run store's records (no Streamlit, no TensorFlow). The rest
of comparing lives beside it, one idea each: `partners` (compare with another
model), `seed_groups` (one config over several seeds), `side_by_side` (the table
and CSV) and `curves` (the overlaid training curves).
"""

from __future__ import annotations

from collections.abc import Sequence

from cnn_core.store.runs import RunSummary


def parse_run_ids(text: str | None) -> list[str]:
    """The run ids of a `?runs=<id>,<id>` value: split on commas, blanks and repeats dropped."""
    ids: list[str] = []
    for part in (text or "").split(","):
        part = part.strip()
        if part and part not in ids:
            ids.append(part)
    return ids


def resolve_runs(
    ids: Sequence[str], runs: Sequence[RunSummary]
) -> tuple[list[RunSummary], list[str]]:
    """The runs `ids` name, in that order, and the ids that name no run."""
    by_id = {run.run_id: run for run in runs}
    found = [by_id[i] for i in ids if i in by_id]
    unknown = [i for i in ids if i not in by_id]
    return found, unknown


def listing_state(runs: Sequence[RunSummary]) -> tuple:
    """What run tables show of `runs` that changes while they train: (id, state,
    epochs, best validation and test accuracy) each. A page that polls only part
    of itself compares this to know when the rest is stale."""
    return tuple(
        (run.run_id, str(run.state), run.epochs_done, run.best_val_accuracy, run.test_accuracy)
        for run in runs
    )
