"""The training doctor's findings on a page, with a one-click retry.

Shared by Train (the finished view), Evaluate and Compare. `cnn_core.insight.doctor.diagnosis`
finds (`doctor_verdict.run_findings`, cached per run folder version); this shows
each finding (problem: error box, warning: warning box, note: info box) with its
evidence and advice, and "Try this" queues the corrected run (or the finding's
alternative, e.g. clipped gradients) through the same launcher as every other
button and opens the pair on Compare.
"""

from __future__ import annotations

import streamlit as st

from cnn_core.base.errors import UserError
from cnn_core.data.registry import find_dataset
from cnn_core.insight.doctor import diagnosis as doctor
from cnn_core.insight.doctor.verdict import run_findings as run_findings  # pages import it here
from cnn_core.insight.labels import markdown_text
from cnn_core.store.runs import RunSummary
from cnn_core.training.worker import launch_run
from pages._shared.compare_actions import open_comparison

BOXES = {"problem": st.error, "warning": st.warning, "info": st.info}
ICONS = {"problem": ":material/error:", "warning": ":material/warning:", "info": ":material/info:"}


def findings_section(run: RunSummary, prefix: str, findings: list[doctor.Finding]) -> None:
    """Each finding in its box; "Try this" under those that suggest a change."""
    for index, finding in enumerate(findings):
        text = (
            f"**{markdown_text(finding.title)}**  \n{markdown_text(finding.evidence)}  \n"
            f"*What to try:* {markdown_text(finding.advice)}"
        )
        BOXES[finding.severity](text, icon=ICONS[finding.severity])
        if run.config is None or not find_dataset(run.config.dataset):
            continue  # nothing to retry on: no config, or its data is not here
        tries = [(False, finding.change_text)] if finding.change else []
        tries += [(True, finding.alternative_text)] if finding.alternative else []
        for alternative, text in tries:
            suffix = "_alt" if alternative else ""
            if st.button(
                f"Try this: {text}",
                icon=":material/science:",
                key=f"{prefix}_doctor_try_{index}{suffix}",
                help="Queues the same data, split and seed with this change, "
                "and opens both runs on Compare.",
            ):
                retry(run, finding, alternative)


BADGE_COLOURS = {"problem": "red", "warning": "orange", "info": "blue"}


def findings_badges(findings: list[doctor.Finding]) -> None:
    """The findings' titles as badges, for a column among others (Compare)."""
    if not findings:
        return
    st.markdown(
        " ".join(
            f":{BADGE_COLOURS[f.severity]}-badge[{ICONS[f.severity]} {markdown_text(f.title)}]"
            for f in findings
        ),
        help="The training doctor's findings: open the run on Evaluate for the evidence "
        "and what to try.",
    )


def retry(run: RunSummary, finding: doctor.Finding, alternative: bool = False) -> None:
    """Queue the corrected run (with the finding's change, or its alternative) and open
    the pair on Compare (never returns on success)."""
    try:
        folder, _ = launch_run(doctor.corrected_config(run.config, finding, alternative))
    except (UserError, ValueError) as error:
        st.error(str(error))
        return
    open_comparison([run.run_id, folder.run_id])
