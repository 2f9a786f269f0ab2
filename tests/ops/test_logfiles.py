"""The daemon's log file and `infernet logs`: where it is, last lines, since, level, follow."""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infernet.cli.app import app
from infernet.logs import LOG_BACKUPS, LOG_MAX_BYTES, setup_logging
from infernet.node import logfiles
from infernet.node.config import NodeConfig, save_config
from infernet.node.logfiles import (
    LEVELS,
    LogQueryError,
    default_log_path,
    follow,
    parse_since,
    read_log,
)

LINES = """\
[2026-04-30 11:00:00] Node node_1 starting... node_id=node_1
[2026-04-30 11:30:00] Heartbeat OK (latency: 39ms)
[2026-04-30 12:00:00] Job job_1 failed level=warning job_id=job_1
Traceback (most recent call last):
  ValueError: boom
[2026-04-30 12:30:00] probe result level=debug
[2026-04-30 13:00:00] Cannot reach the control plane level=error
"""


def test_the_system_log_dir_is_used_only_when_writable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    config = tmp_path / "cfg" / "infernet" / "config.json"  # the standard place
    writable = tmp_path / "var-log-infernet"
    writable.mkdir()
    assert default_log_path(config, writable) == writable / "daemon.log"
    writable.chmod(0o500)
    try:
        if not os.access(writable, os.W_OK):
            assert default_log_path(config, writable) == config.parent / "daemon.log"
    finally:
        writable.chmod(0o700)


def test_setup_logging_writes_the_books_line_shape_to_a_rotating_file(tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "daemon.log"
    setup_logging("debug", log_file)
    try:
        logging.getLogger("infernet.node").info("Heartbeat OK", extra={"node_id": "node_7"})
        logging.getLogger("infernet.node").debug("probe")
    finally:
        for handler in logging.getLogger("infernet").handlers:
            handler.close()
        logging.getLogger("infernet").handlers.clear()
    first, second = log_file.read_text().splitlines()
    assert first.endswith("] Heartbeat OK node_id=node_7") and first.startswith("[20")
    assert second.endswith("probe level=debug")
    assert (LOG_MAX_BYTES, LOG_BACKUPS) == (50 * 1024 * 1024, 5)


def test_last_lines_keep_a_traceback_with_its_entry(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    log.write_text(LINES)
    entries = read_log(log, lines=3)
    assert entries[0].text.splitlines()[0].endswith("job_id=job_1")
    assert "ValueError: boom" in entries[0].text
    assert len(entries) == 3


def test_level_and_since_filter_entries(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    log.write_text(LINES)
    warnings = read_log(log, lines=None, min_level=LEVELS["warning"])
    assert [e.level for e in warnings] == ["warning", "error"]
    later = read_log(log, lines=None, since=datetime(2026, 4, 30, 12, 15))
    assert [e.at for e in later] == [datetime(2026, 4, 30, 12, 30), datetime(2026, 4, 30, 13)]


def test_rotated_files_are_read_oldest_first(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    (tmp_path / "daemon.log.1").write_text("[2026-04-30 10:00:00] older\n")
    log.write_text("[2026-04-30 11:00:00] newer\n")
    assert [e.text[-5:] for e in read_log(log)] == ["older", "newer"]


def test_since_accepts_durations_and_times() -> None:
    now = datetime(2026, 4, 30, 12, 0)
    assert parse_since("1h", now) == datetime(2026, 4, 30, 11, 0)
    assert parse_since("30m", now) == datetime(2026, 4, 30, 11, 30)
    assert parse_since("2026-04-30 12:00") == datetime(2026, 4, 30, 12, 0)
    with pytest.raises(LogQueryError, match="duration"):
        parse_since("yesterday-ish")


def test_follow_prints_new_lines_and_survives_rotation(tmp_path: Path) -> None:
    log = tmp_path / "daemon.log"
    log.write_text("[2026-04-30 10:00:00] already there\n")
    shown: list[str] = []
    steps = iter(
        [
            lambda: log.open("a").write(
                "[2026-04-30 10:00:01] one\n[2026-04-30 10:00:02] x level=debug\n"
            ),
            lambda: (
                log.rename(tmp_path / "daemon.log.1"),
                log.write_text("[2026-04-30 10:00:03] two\n"),
            ),
        ]
    )
    remaining = [3]

    def keep_going() -> bool:
        remaining[0] -= 1
        return remaining[0] >= -3

    def sleep(_: float) -> None:
        step = next(steps, None)
        if step is not None:
            step()

    follow(log, shown.append, keep_going=keep_going, min_level=LEVELS["info"], sleep=sleep)
    assert shown == ["[2026-04-30 10:00:01] one", "[2026-04-30 10:00:03] two"]


def test_infernet_logs_prints_filtered_lines(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"log_file": "%s"}' % (tmp_path / "d.log"))
    (tmp_path / "d.log").write_text(LINES)
    result = CliRunner().invoke(
        app, ["logs", "--config", str(config), "--level", "error", "--lines", "5"]
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip() == "[2026-04-30 13:00:00] Cannot reach the control plane level=error"
    )


def test_infernet_logs_without_a_log_says_how_to_get_one(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"log_file": "%s"}' % (tmp_path / "none.log"))
    result = CliRunner().invoke(app, ["logs", "--config", str(config)])
    assert result.exit_code == 1
    assert "infernet start" in result.output


def test_two_nodes_on_one_host_never_share_a_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root every daemon logs under /var/log/infernet: one file per node config, and
    `infernet logs` reads only its own node's."""
    system = tmp_path / "var-log-infernet"
    system.mkdir()
    monkeypatch.setattr(logfiles, "SYSTEM_LOG_DIR", system)
    configs = [tmp_path / "a" / "config.json", tmp_path / "b" / "config.json"]
    for config in configs:
        save_config(NodeConfig(), config)
    paths = [default_log_path(config) for config in configs]
    assert paths[0] != paths[1] and {p.parent for p in paths} == {system}
    paths[0].write_text("[2026-04-30 11:00:00] Node node_a starting...\n")
    paths[1].write_text("[2026-04-30 11:00:00] Node node_b starting...\n")
    result = CliRunner().invoke(app, ["logs", "--config", str(configs[1])])
    assert result.output == "[2026-04-30 11:00:00] Node node_b starting...\n"


def test_two_configs_in_one_directory_log_apart_beside_them(tmp_path: Path) -> None:
    unwritable = tmp_path / "no" / "such" / "dir"  # neither it nor its parent exists
    one, two = tmp_path / "etc" / "config.json", tmp_path / "etc" / "gpu1.json"
    assert default_log_path(one, unwritable) == tmp_path / "etc" / "daemon.log"
    assert default_log_path(two, unwritable) == tmp_path / "etc" / "gpu1.daemon.log"


def test_infernet_logs_json_gives_each_entry_with_its_time_and_level(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"log_file": "%s"}' % (tmp_path / "d.log"))
    (tmp_path / "d.log").write_text(LINES)
    result = CliRunner().invoke(
        app, ["logs", "--json", "--config", str(config), "--level", "warning"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["log_file"] == str(tmp_path / "d.log")
    assert [(e["at"], e["level"]) for e in data["entries"]] == [
        ("2026-04-30 12:00:00", "warning"),
        ("2026-04-30 13:00:00", "error"),
    ]
    assert "ValueError: boom" in data["entries"][0]["text"]
