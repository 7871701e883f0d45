"""A user's mistake, or a plugin's death, reaches them as a message naming the place and fix.

Each test runs `gruponos-meltano` as a process, as a user meets it (issue 15, points 10-14, 17).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from gruponos_meltano_native.codes import InvalidCode, check_code
from gruponos_meltano_native.jobs import RunScope

SCOPE = ("--company", "GNOS", "--facility", "DC01")
BIN_DIRS = f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin"


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _nothing_created(state: Path) -> None:
    assert not (state / "locks").exists()
    assert not (state / "bookmarks").exists()


def test_a_bad_database_url_port_is_a_settings_error_naming_the_setting(cli, tmp_path):
    for url, says in (
        ("postgresql+psycopg://loader:pw-4711@db.example:54x32/wms", "the port, when given"),
        ("postgresql+psycopg://loader:pw-4711@db.example:99999/wms", "port 99999 is out of range"),
    ):
        result = cli(
            "run",
            "full",
            *SCOPE,
            env={"GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL": url},
        )
        assert result.returncode == 3, result.stderr
        assert "GRUPONOS_MELTANO_ORACLE_DB__SQLALCHEMY_URL" in result.stderr
        assert says in result.stderr
        assert "internal error" not in result.stderr and "pw-4711" not in result.stderr


def test_a_target_killed_by_a_signal_is_reported_as_killed(cli, tmp_path):
    target = _script(
        tmp_path / "dying-target",
        "echo '2026-12-06 00:00:00,000 | INFO | target | Skipping parse of env var settings' >&2\n"
        "kill -9 $$\n",
    )
    result = cli(
        "run",
        "full",
        *SCOPE,
        "--entities",
        "facility",
        env={"GRUPONOS_MELTANO_TARGET_EXECUTABLE": str(target)},
    )
    assert result.returncode == 6, result.stderr
    assert "dying-target killed by signal SIGKILL" in result.stderr
    assert "exited with code -9" not in result.stdout + result.stderr
    history = cli("history")
    assert "killed by signal SIGKILL" in history.stdout


def test_control_characters_in_a_wms_error_are_not_printed_by_run_or_history(cli, tmp_path):
    # The WMS's error text, as the tap logs it, with screen-clearing and title-setting codes.
    tap = _script(
        tmp_path / "tap-with-wms-error",
        "printf '2026-12-06 00:00:00,000 | ERROR | tap-oracle-wms | HTTP 400 from the WMS: "
        "\\033[2J\\033]0;owned\\007bad\\rfilter\\n' >&2\nexit 1\n",
    )
    result = cli(
        "run",
        "incremental",
        *SCOPE,
        env={"GRUPONOS_MELTANO_TAP_EXECUTABLE": str(tap)},
    )
    assert result.returncode == 5, result.stderr
    assert "HTTP 400 from the WMS: badfilter" in result.stderr
    history = cli("history")
    assert "HTTP 400 from the WMS: badfilter" in history.stdout
    for output in (result.stdout, result.stderr, history.stdout):
        assert "\x1b" not in output and "\x07" not in output and "\r" not in output


@pytest.mark.parametrize("code", [".", "..", "DC/01", "D" * 300, "DC01\x1b[2J"])
def test_a_bad_facility_code_is_refused_before_anything_is_created(cli, tmp_path, code):
    result = cli("run", "incremental", "--company", "GNOS", "--facility", code)
    assert result.returncode == 3, result.stderr
    assert "--facility" in result.stderr and "is not a valid code" in result.stderr
    assert "File name too long" not in result.stderr
    _nothing_created(tmp_path / "state")


def test_a_bad_code_in_the_settings_is_a_settings_error_naming_it(cli, tmp_path):
    result = cli(
        "run",
        "full",
        "--all-facilities",
        "--company",
        "GNOS",
        env={"GRUPONOS_MELTANO_FACILITIES": "DC01,.."},
    )
    assert result.returncode == 3, result.stderr
    assert "GRUPONOS_MELTANO_FACILITIES" in result.stderr and "'..'" in result.stderr


def test_a_facility_the_wms_lacks_leaves_no_lock_file(cli, tmp_path):
    result = cli("run", "incremental", "--company", "GNOS", "--facility", "DC99")
    assert result.returncode == 3, result.stderr
    assert "Unknown facility 'DC99'" in result.stderr
    _nothing_created(tmp_path / "state")


def test_the_api_and_every_scope_use_the_same_code_rule():
    assert check_code("DC-01_a") == "DC-01_a"
    assert check_code("x" * 64)
    for bad in ("", ".", "..", "x" * 65, "DC 01", "DC01\n"):
        with pytest.raises(InvalidCode):
            RunScope.of("full", "GNOS", bad)


def test_the_meltano_runner_without_meltano_on_path_names_the_setting(cli, tmp_path):
    result = cli(
        "run",
        "full",
        *SCOPE,
        env={"GRUPONOS_MELTANO_RUNNER": "meltano", "PATH": BIN_DIRS},
    )
    assert result.returncode == 3, result.stderr
    assert "GRUPONOS_MELTANO_MELTANO_EXECUTABLE" in result.stderr
    assert "internal error" not in result.stderr


def test_a_mistyped_setting_in_the_environment_is_an_error_naming_the_nearest(cli, tmp_path):
    result = cli(
        "run",
        "full",
        *SCOPE,
        env={"GRUPONOS_MELTANO_ENVIROMENT": "prod"},
    )
    assert result.returncode == 3, result.stderr
    assert (
        "GRUPONOS_MELTANO_ENVIROMENT (in the environment) is not a setting; "
        "did you mean GRUPONOS_MELTANO_ENVIRONMENT?" in result.stderr
    )
    _nothing_created(tmp_path / "state")


def test_dot_env_typos_are_errors_but_meltanos_own_names_are_left_alone(cli, tmp_path):
    env_file = tmp_path / ".env"
    # meltano.yml tells users to keep the tap's secrets here, under Meltano's names.
    env_file.write_text(
        "TAP_ORACLE_WMS_PASSWORD=kept-for-meltano\nGRUPONOS_MELTANO_DELETIONS=off\n"
    )
    shown = cli("config")
    assert shown.returncode == 0, shown.stderr
    assert '"deletions": "off"' in shown.stdout

    env_file.write_text(
        "TAP_ORACLE_WMS_PASSWORD=kept-for-meltano\ngruponos_meltano_facilites=DC01\n"
    )
    result = cli("config")
    assert result.returncode == 3, result.stderr
    assert "gruponos_meltano_facilites (in " in result.stderr
    assert "did you mean GRUPONOS_MELTANO_FACILITIES?" in result.stderr
    assert "TAP_ORACLE_WMS_PASSWORD" not in result.stderr


def test_validate_history_and_report_work_in_a_fresh_folder(simulator, tmp_path):
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    env = {
        **os.environ,
        "PATH": BIN_DIRS,
        "GRUPONOS_MELTANO_ORACLE_WMS__BASE_URL": simulator.base_url,
        "GRUPONOS_MELTANO_ORACLE_WMS__USERNAME": simulator.username,
        "GRUPONOS_MELTANO_ORACLE_WMS__PASSWORD": simulator.password,
    }

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        program = str(Path(sys.executable).parent / "gruponos-meltano")
        return subprocess.run(
            [program, *args], cwd=fresh, env=env, capture_output=True, text=True, timeout=120
        )

    history = command("history")
    assert history.returncode == 0, history.stderr
    assert "no runs recorded in gruponos_run_history yet" in history.stdout
    report = command("report", "--out", "report.html")
    assert report.returncode == 0, report.stderr
    assert (fresh / "report.html").exists()
    validate = command("validate")
    assert validate.returncode == 0, validate.stderr
    assert "wms: ok" in validate.stdout and "database: ok (sqlite:///" in validate.stdout


def test_the_python_api_refuses_a_bad_code_before_anything_is_created(settings_for, tmp_path):
    import asyncio

    from gruponos_meltano_native import create_gruponos_meltano_platform

    platform = create_gruponos_meltano_platform(settings_for())
    with pytest.raises(InvalidCode, match=r"facility code: '\.\.' .* is not a valid code"):
        asyncio.run(platform.execute_full_sync("GNOS", ".."))
    with pytest.raises(InvalidCode, match="company code"):
        asyncio.run(platform.execute_facilities("incremental", "G" * 65, ["DC01"]))
    _nothing_created(tmp_path / "state")
