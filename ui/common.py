"""What the pages use, in one namespace (`from ui import common as ui`). The rooms:

    state     URL state: links that reopen a view, and say what they could not restore
    messages  the glossary; errors in plain words, details one click away
    loads     cached loads of stored and opened runs, models, images, chart pictures
    pickers   the sidebar's pickers (data sets, OE pools, methods, budgets) and their labels
    training  progress, estimates and confirmation, grid training, background sweeps, downloads
    models    a stored model at work (download, score images)
    stored    the store and the opened result bundles; viewer mode; views of stored results
    runs      the Runs page's parts (open, compare, export, delete)

Only ui/ and views/ (the pages) import streamlit.
"""

from __future__ import annotations

from deepad import methods  # noqa: F401 - pages ask it for titles
from ui import stored, training  # noqa: F401
from ui.loads import (  # noqa: F401
                      _detector,
                      _run_data,
                      chart_pngs,
                      data_here,
                      detector,
                      heatmaps,
                      run_data,
                      run_version,
                      store,
                      test_images,
)
from ui.messages import GLOSSARY, show_error, shown_errors  # noqa: F401
from ui.models import use_model  # noqa: F401
from ui.pickers import (  # noqa: F401
                      BLUR_SIGMAS,
                      BUDGETS,
                      FAMILY_TITLES,
                      OE_SIZES,
                      budget_args,
                      budget_picker,
                      classes_of,
                      dataset_choices,
                      dataset_label,
                      is_path,
                      method_choices,
                      method_families,
                      method_label,
                      page_configs,
                      method_picker,
                      nominal_picker,
                      oe_choices,
                      oe_codec,
                      oe_picker,
)
from ui.state import link_notes, url_state, write_url  # noqa: F401
from ui.stored import results, viewer  # noqa: F401
from ui.training import (  # noqa: F401
                      Grid,
                      StreamlitProgress,
                      background_controls,
                      device_choice,
                      download_progress,
                      estimate,
                      get_runs,
                      grid_rows,
                      needs_download,
                      offer_download,
                      show_background_jobs,
                      train_here,
)
