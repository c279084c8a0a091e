"""Challenge registry: discovery, search path, and one-line errors for malformed yaml."""

import shutil
from pathlib import Path

import pytest

from rexmle import challenge, ranking
from rexmle.errors import ConfigError, NotFoundError

ISLES = Path(challenge.get("isles22").folder)


def test_builtin_discovery() -> None:
    found = challenge.discover()
    assert "isles22" in found
    spec = found["isles22"].spec
    assert spec.directions == {
        "dice": "higher_better",
        "lesion_f1": "higher_better",
        "lesion_count_diff": "lower_better",
        "abs_volume_diff": "lower_better",
    }
    assert str(spec.data[0].urls[0]).startswith("https://zenodo.org/records/7960856/")


def test_leaderboard_matches_reference_facts() -> None:
    board = challenge.get("isles22").leaderboard
    assert len(board) == 10
    assert board.iloc[0]["dice"] == 0.7852 and board.iloc[0]["mean_position"] == 3.5


@pytest.mark.parametrize("cid", sorted(challenge.discover()))
def test_every_challenge_folder_is_complete(cid: str) -> None:
    """The files every challenge ships, and a leaderboard whose every row says where it came
    from and whose metric columns the spec knows (with a direction) and the grader computes."""
    ch = challenge.get(cid)
    code = ("prepare.py", "synthetic.py", "grade.py")
    for name in ("challenge.yaml", "description.md", *(() if ch.spec.family else code)):
        assert (ch.folder / name).is_file(), name
    if ch.spec.family:  # a family task holds no code: its family folder does
        assert not list(ch.folder.glob("*.py"))
        assert (ch.folder.parent / ch.spec.family.code / "family.py").is_file()
    board = ch.leaderboard
    assert len(board) >= 3 and list(board["rank"]) == sorted(board["rank"])
    assert "source" in board.columns and board["source"].astype(str).str.strip().str.len().min() > 10
    ranked = ranking.leaderboard_metrics(board)
    assert ranked and set(ranked) == set(ch.spec.ranked_directions)  # yaml's `ranked` = the board's columns
    assert all(df.urls or df.gdrive_id or df.manual for df in ch.spec.data)


def test_unknown_challenge_is_one_line() -> None:
    with pytest.raises(NotFoundError) as e:
        challenge.get("nope")
    assert "\n" not in str(e.value) and "isles22" in str(e.value)


def _copy_isles(tmp: Path, new_id: str) -> Path:
    dst = tmp / new_id
    shutil.copytree(ISLES, dst, ignore=shutil.ignore_patterns("__pycache__"))
    y = dst / "challenge.yaml"
    y.write_text(y.read_text().replace("id: isles22", f"id: {new_id}"))
    return dst


def test_search_path_adds_user_challenges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _copy_isles(tmp_path, "my-copy")
    monkeypatch.setenv("REXMLE_CHALLENGES_PATH", str(tmp_path))
    assert challenge.get("my-copy").folder == tmp_path / "my-copy"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda t: t.replace("layout_version: 1", "layout_version: zero"), "layout_version"),
        (lambda t: t.replace("direction: higher_better", "direction: up", 1), "metrics.0.direction"),
        (lambda t: t.replace("wall_time_s: 43200", "wall_time_s: -1"), "budgets.wall_time_s"),
        (lambda t: t + "\nunexpected_key: 1\n", "unexpected_key"),
        (lambda t: t.replace("title:", "title: [unclosed"), "not valid YAML"),
        (lambda t: "just a string\n", "mapping"),
        (lambda t: t.replace("id: bad", "id: other"), "differs from its folder"),
    ],
)
def test_malformed_yaml_is_refused_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit, message
) -> None:  # type: ignore[no-untyped-def]
    folder = _copy_isles(tmp_path, "bad")
    y = folder / "challenge.yaml"
    y.write_text(edit(y.read_text()))
    monkeypatch.setenv("REXMLE_CHALLENGES_PATH", str(tmp_path))
    with pytest.raises(ConfigError) as e:
        challenge.discover()
    assert message in str(e.value)
    assert "\n" not in str(e.value)
    assert str(y) in str(e.value)


def test_a_misspelt_family_parameter_is_one_line_naming_the_task() -> None:
    from rexmle.challenges._topcow.family import FAMILY

    from rexmle.challenge import Family

    spec = challenge.get("topcow-track1-task1").spec
    assert FAMILY.grader(spec).format.file_columns == {"predicted_mask_path": (".nii.gz", ".nii")}
    for params, where in (({"modality": "ct", "task": "segmentation"}, "task"), ({"modality": "ct"}, "task"),
                          ({"modality": "ct", "task": "seg", "track": 1}, "track")):  # fmt: skip
        bad = spec.model_copy(update={"family": Family(code="_topcow", params=params)})
        with pytest.raises(ConfigError) as e:
            FAMILY.grader(bad)
        assert str(e.value).startswith(f"topcow-track1-task1: challenge.yaml family.params.{where}: ")
        assert "\n" not in str(e.value)
