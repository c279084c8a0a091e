#!/usr/bin/env python3
"""validate-submission [DIR]: ask the run's gateway whether DIR (default: the submission folder)
is a well-formed submission. Checks the format on public files only; it never returns a score."""

import json
import os
import sys
import urllib.error
import urllib.request

folder = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.environ["REXMLE_SUBMISSION_DIR"])
url = os.environ.get("REXMLE_VALIDATE_URL")
token = os.environ.get("REXMLE_VALIDATE_TOKEN") or os.environ.get("REXMLE_LLM_API_KEY", "")
if not url:
    sys.exit("validate-submission: this run has no validation endpoint (REXMLE_VALIDATE_URL unset)")
req = urllib.request.Request(
    url,
    data=json.dumps({"submission_dir": folder}).encode(),
    headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
)
try:
    with urllib.request.urlopen(req, timeout=600) as resp:
        answer = json.load(resp)
except urllib.error.HTTPError as exc:
    answer = json.load(exc)
print(json.dumps(answer, indent=2))
sys.exit(0 if answer.get("valid") else 1)
