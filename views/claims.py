"""Claims: each finding of the paper beside this lab's evidence, with a verdict computed live."""

import pandas as pd
import streamlit as st

from deepad import claims
from ui import common as ui

COLOURS = {claims.HOLDS: "green", claims.FAILS: "red", claims.UNKNOWN: "gray"}

st.title("The paper's claims, checked against the runs here")
res = ui.results()
rows = res.rows()
srcs = sorted({r["source"] for r in rows})
st.markdown(
    "Each finding of *Rethinking Assumptions in Deep Anomaly Detection* (Ruff et al., 2020) beside "
    "what the runs of this lab show. The verdicts are computed **live** from the "
    f"**{len(rows)} runs** stored or opened here ({', '.join(srcs) or 'none yet'}): **holds**, "
    "**does not hold**, or **not enough runs** to tell. Each says the budget it was measured at "
    "(the paper trained 150-200 epochs with 10 seeds; CPU budgets here are shorter), links to the "
    "page that shows the evidence, and gives the command that reproduces it. The same checks "
    "write the reproduction report (`benchmarks/reproduce.py`). The last two ask why the "
    "reproduction falls short where it does: the size of the OE pool, and how few OE samples are "
    "shown.")

verdicts = claims.evaluate(rows)
st.dataframe(pd.DataFrame([{"claim": v.claim, "verdict": v.verdict, "runs": v.runs,
                            "measured at": v.budget.split(";")[0] if v.budget else ""}
                           for v in verdicts]), hide_index=True, width="stretch")

for v in verdicts:
    with st.container(border=True):
        st.markdown(f"#### {v.claim}")
        st.markdown(f":{COLOURS[v.verdict]}-background[**{v.verdict}**]"
                    + (" (as far as measured)" if v.provisional and v.verdict != claims.UNKNOWN else ""))
        left, right = st.columns(2)
        left.markdown(f"**The paper.** {v.paper}")
        right.markdown(f"**Here.** {v.evidence or 'No runs that test it.'}")
        if len(v.details) > 1:
            right.markdown("\n".join(f"- {d}" for d in v.details))
        st.caption(f"Criterion: {v.criterion}")
        if v.budget:
            st.caption(f"Measured at: {v.budget}.")
        if v.view:
            page, params = ui.stored.view_link(v.view)
            st.page_link(page, label="Show the evidence", icon="📈", query_params=params)
        if v.command:
            st.code(v.command, language="bash")
        elif not v.view:
            st.caption("No runs yet. The paper's grids are listed by `python -m deepad sweep "
                       "--list-grids`.")
