"""The maintenance tasks: one declared list, run inside the API by a setting, and the process
table the ``tracker`` command dispatches from."""

from __future__ import annotations

import asyncio
import os

import pytest

from tracker import cli, processes
from tracker.app import create_app, lifespan
from tracker.maintenance import TASK_NAMES, TASKS, MaintenanceRunner, selected
from tracker.settings import Settings

ALL_ON = {"compaction_interval_s": 900.0}  # the one task off by default (`tracker serve` sets it)


def alive_maintenance() -> set[str]:
    return {t.get_name() for t in asyncio.all_tasks() if not t.done()} & set(TASK_NAMES)


def test_every_task_is_declared_once_with_a_real_interval_setting() -> None:
    assert TASK_NAMES == (
        "permit-expiry",
        "yard-capacity",
        "blacklist-expiry",
        "pings-compaction",
        "kpi-rollup",
        "outbox-notices",
        "case-escalation",
        "case-intake",
        "exports-expiry",
        "daily-exports",
        "clue-privacy",
        "sighting-review",
    )
    for task in TASKS:
        assert task.interval_setting in Settings.model_fields, task.name
        assert task.what


def test_an_interval_of_zero_turns_a_task_off(settings: Settings) -> None:
    assert [t.name for t in selected(settings)] == [
        "permit-expiry",
        "yard-capacity",
        "blacklist-expiry",
        "kpi-rollup",
        "outbox-notices",
        "case-escalation",
        "case-intake",
        "exports-expiry",
        "daily-exports",
        "clue-privacy",
        "sighting-review",
    ]  # compaction is off (0) unless set
    off = settings.model_copy(update={**ALL_ON, "kpi_rollup_interval_s": 0.0})
    assert "kpi-rollup" not in [t.name for t in selected(off)]
    only = selected(settings, ["blacklist-expiry"])
    assert [t.name for t in only] == ["blacklist-expiry"]
    with pytest.raises(ValueError, match="unknown maintenance tasks"):
        selected(settings, ["vacuum"])


@pytest.mark.parametrize("in_api", [True, False])
async def test_the_in_api_setting_turns_the_tasks_on_and_off(
    settings: Settings, in_api: bool
) -> None:
    app = create_app(settings.model_copy(update={**ALL_ON, "maintenance_in_api": in_api}))
    assert alive_maintenance() == set()
    async with lifespan(app):
        assert alive_maintenance() == (set(TASK_NAMES) if in_api else set())
        assert isinstance(app.state.maintenance, MaintenanceRunner) is in_api
    assert alive_maintenance() == set()


def test_the_cli_dispatches_every_process_from_the_table(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for process in processes.PROCESSES:  # `tracker X` sets them; they are restored afterwards
        for key in process.env_defaults:
            monkeypatch.delenv(key, raising=False)
    assert [p.name for p in processes.PROCESSES] == [
        "api",
        "gateway",
        "engine",
        "maintenance",
        "deliverer",
    ]
    assert cli.main(["--help"]) == 0
    shown = capsys.readouterr().out
    for process in processes.PROCESSES:
        assert process.command in shown
    with pytest.raises(SystemExit) as exited:
        cli.main(["maintenance", "--help"])
    assert exited.value.code == 0
    assert "--once" in capsys.readouterr().out
    assert os.environ["TRACKER_COMPACTION_INTERVAL_S"] == "900"  # the process's default
