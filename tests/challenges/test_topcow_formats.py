"""The TopCoW family's readers and the edge lists implied by a segmentation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rexmle.challenges._topcow.formats import (
    edges_from_segmentation,
    read_box,
    read_edges,
    read_roi_txt,
    variant_code,
)
from rexmle.graders import Box

from rexmle.errors import InvalidSubmission


def test_roi_txt_reads_size_then_location() -> None:
    text = "Spacing (mm): 0.45 0.45 0.6\nSize (Voxels): 120 98 64\nLocation (Voxels): 201 180 77\n"
    assert read_roi_txt(text) == Box(size=(120, 98, 64), location=(201, 180, 77))
    with pytest.raises(InvalidSubmission, match="three integers"):
        read_roi_txt("a\nSize: 1 2\nLocation: 1 2 3")


def test_box_json_is_strict(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    p.write_text(json.dumps({"size": [10, 20, 30], "location": [1.0, 2, 3]}))
    assert read_box(p, "case 1") == Box(size=(10, 20, 30), location=(1, 2, 3))
    for bad, message in (
        ({"size": [1, 2, 3]}, "exactly the keys"),
        ({"size": [1, 2], "location": [0, 0, 0]}, "three numbers"),
        ({"size": [1, 0, 3], "location": [0, 0, 0]}, "positive"),
        ({"size": [1, 2, True], "location": [0, 0, 0]}, "three numbers"),
    ):
        p.write_text(json.dumps(bad))
        with pytest.raises(InvalidSubmission, match=message) as err:
            read_box(p, "case 1")
        assert str(err.value).startswith("case 1: ") and "\n" not in str(err.value)
    p.write_text("{not json")
    with pytest.raises(InvalidSubmission, match="not valid JSON"):
        read_box(p, "case 1")


EDGES = {
    "anterior": {"L-A1": 1, "Acom": 1, "3rd-A2": 0, "R-A1": 1},
    "posterior": {"L-Pcom": 0, "L-P1": 1, "R-P1": 1, "R-Pcom": 1},
}


def test_edge_lists_from_yaml_and_json(tmp_path: Path) -> None:
    y = tmp_path / "e.yml"
    y.write_text(
        "posterior: {R-Pcom: 1, L-P1: 1, R-P1: 1, L-Pcom: 0}\nanterior: {Acom: 1, L-A1: 1, R-A1: 1, 3rd-A2: 0}\n"
    )
    assert read_edges(y, "gt") == ((1, 1, 0, 1), (0, 1, 1, 1))  # key order in the file does not matter
    j = tmp_path / "e.json"
    j.write_text(json.dumps(EDGES))
    assert read_edges(j, "gt") == ((1, 1, 0, 1), (0, 1, 1, 1))


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("posterior"), "exactly the keys"),
        (lambda e: e["anterior"].pop("Acom"), "anterior must have exactly the edges"),
        (lambda e: e["posterior"].update({"L-P1": True}), "posterior.L-P1 must be 0 or 1, not True"),
        (lambda e: e["posterior"].update({"L-P1": 2}), "must be 0 or 1"),
    ],
)
def test_bad_edge_lists_are_one_line(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    edges = json.loads(json.dumps(EDGES))
    mutate(edges)
    p = tmp_path / "e.json"
    p.write_text(json.dumps(edges))
    with pytest.raises(InvalidSubmission, match=message):
        read_edges(p, "case 7")


def test_edges_from_a_segmentation() -> None:
    seg = np.zeros((5, 5, 30), dtype=np.uint8)
    seg[2, 2, 0:3] = 6  # L-ICA
    seg[2, 2, 3:6] = 12  # L-ACA touching it: L-A1
    seg[2, 2, 7:9] = 10  # Acom, anywhere
    seg[2, 2, 10:12] = 4  # R-ICA
    seg[2, 2, 13:15] = 11  # R-ACA one voxel away: no R-A1
    seg[2, 2, 20:22] = 1  # BA
    seg[3, 3, 22] = 2  # R-PCA diagonal to BA: R-P1
    seg[0, 0, 28] = 8  # R-Pcom present
    assert edges_from_segmentation(seg) == ((1, 1, 0, 0), (0, 0, 1, 1))
    assert variant_code((1, 1, 0, 0)) == 12 and variant_code((0, 0, 0, 0)) == 0
