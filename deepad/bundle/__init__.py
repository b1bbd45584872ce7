"""Result bundles: stored runs in one checksummed file that travels.

A bundle is a zip file (members stored or deflated) laid out as

    manifest.json                       format, versions, the runs, what is known of their data
                                        sets, and the SHA-256 and size of every other member
    runs/<key>/config.json              the RunConfig (its key is checked against <key>)
    runs/<key>/metrics.json             as stored (AUROC, AUPRC, FPR at 95% TPR, timings, ...)
    runs/<key>/history.json             training loss per epoch
    runs/<key>/scores.npy               per-sample test scores, in the manifest's dtype per run
    runs/<key>/extremes.json            test indices of the false alarms and misses shown
    runs/<key>/weights.safetensors      only with --weights
    data/<set>/test_classes.npy         the test split's class of each image (labels = class !=
                                        the run's nominal class; indices = 0..n-1)
    data/<set>/images.json              which test images the atlases hold
    data/<set>/images-<n>.png           atlases of those images (false alarms and misses)

Nothing in a bundle runs code when it is read: JSON, .npy read with allow_pickle=False, PNG and
safetensors only; any other member, a path that escapes, a link, a checksum that does not match,
an unknown format version or an invalid run is refused before anything is written (BundleError,
one line). Sizes are capped (zip bombs). Reading needs neither torch nor scikit-learn.
"""

from .check import (  # noqa: F401
                    FORMAT,
                    FORMAT_VERSION,
                    SCORE_DTYPES,
                    BundleError,
                    data_label,
                    set_id,
                    summarise,
                    validate_config,
)
from .read import Bundle, BundleRun, open_bundle  # noqa: F401
from .write import compact_scores, export, import_bundle  # noqa: F401
