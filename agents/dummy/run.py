"""The dummy agent: copy ``$REXMLE_DATA_DIR/sample_submission/`` into the submission folder."""

import os
import shutil
import sys
from pathlib import Path

data = Path(os.environ["REXMLE_DATA_DIR"])
submission = Path(os.environ["REXMLE_SUBMISSION_DIR"])
sample = data / "sample_submission"
if not sample.is_dir():
    sys.exit(f"dummy: {sample} does not exist")
shutil.copytree(sample, submission, dirs_exist_ok=True)
for root, dirs, files in os.walk(submission):  # copies of read-only inputs: make them ours
    for name in dirs + files:
        os.chmod(os.path.join(root, name), 0o755 if name in dirs else 0o644)
print(f"dummy: copied {sample} -> {submission}")
