"""The baseline agent: dispatch on the task type to a plain, no-LLM solution."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
# before torch loads its OpenMP runtime: busy-waiting threads make training crawl on a loaded
# machine (see work.py)
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

task = os.environ.get("REXMLE_TASK_TYPE", "")


def train_columns() -> list[str]:
    """The header of the data folder's ``train.csv`` (which inputs a case has)."""
    path = Path(os.environ.get("REXMLE_DATA_DIR", ".")) / "train.csv"
    if not path.exists():
        return []
    with path.open() as f:
        return f.readline().strip().split(",")


multichannel = "dwi" in train_columns()
if task == "segmentation-3d-binary" and multichannel:  # ISLES'22: DWI + ADC per case
    from seg3d import main

    main()
elif task in ("segmentation-3d-binary", "segmentation-3d-multiclass"):  # one image per case
    from seg3d_multiclass import main

    main()
elif task == "detection-3d-box":
    from boxes3d import main

    main()
elif task == "classification-cow-edges":
    from cow_edges import main

    main()
elif task == "segmentation-2d-instance":  # NeurIPS Cell Seg
    from instance2d import main

    main()
elif task == "segmentation-2d-multiclass":  # PUMA tissue, RAVIR
    from seg2d import main

    main()
elif task == "detection-2d-nuclei":  # PUMA nuclei
    from nuclei2d import main

    main()
elif task == "detection-2d-dental":  # DENTEX
    from dental2d import main

    main()
elif task == "regression-image-quality":  # LDCT-IQA
    from iqa import main

    main()
elif task == "enhancement-2d":  # USenhance
    from enhance2d import main

    main()
else:
    sys.exit(f"baseline: no solution for task type {task!r} yet")
