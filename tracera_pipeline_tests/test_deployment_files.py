"""The compose deployment's files agree with each other and with the code.

No Docker engine runs here, so this checks what can be checked offline: the
compose file parses and cross-references, every variable the code reads can be
set from .env, ports and hosts agree with the workspace, images are pinned, and
the Dagster instance files pass Dagster's own validation.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config

from tracera_pipeline.config import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
PIPELINE_SERVICES = ("migrate", "user-code")  # the ones that run pipeline code
DAGSTER_SERVICES = ("user-code", "webserver", "daemon")  # the ones that load the instance


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _services() -> dict[str, dict[str, Any]]:
    return _compose()["services"]


def _env_names_read_by_code() -> set[str]:
    names: set[str] = set()
    for path in (REPO_ROOT / "tracera_pipeline").rglob("*.py"):
        names |= set(re.findall(r"\bTRACERA_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    return names


def _env_example() -> dict[str, str]:
    """Variables listed in .env.example, set (``X=v``) or shown commented (``# X=v``)."""
    listed = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if match := re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line):
            listed[match[1]] = match[2]
    return listed


def _interpolated(value: object) -> set[str]:
    return set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", str(value)))


def _instance_env_names(path: Path) -> set[str]:
    return set(re.findall(r"env:\s*([A-Z][A-Z0-9_]*)", path.read_text()))


def test_compose_parses_and_depends_on_only_existing_services_in_a_valid_way() -> None:
    services = _services()
    assert {"timescaledb", "dagster-postgres", "redis", "migrate"} <= services.keys()
    assert {"user-code", "webserver", "daemon"} <= services.keys()
    for name, service in services.items():
        for dep, spec in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep}'s health"
            else:
                assert condition == "service_completed_successfully", (name, dep)
                assert services[dep].get("restart") == "no", f"{dep} must be a one-shot"


def test_every_long_running_service_has_a_healthcheck_and_waits_for_healthy_deps() -> None:
    services = _services()
    for name, service in services.items():
        if name == "migrate":
            continue
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in ("CMD", "CMD-SHELL"), f"{name} has no healthcheck"
    user_code = services["user-code"]["depends_on"]
    assert user_code["migrate"]["condition"] == "service_completed_successfully"
    for dep in ("timescaledb", "redis", "dagster-postgres"):
        assert user_code[dep]["condition"] == "service_healthy"
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["user-code"]["condition"] == "service_healthy"
        assert services[name]["depends_on"]["dagster-postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["command"][-1] == "migrate"


def test_images_are_pinned_to_exact_versions_and_one_postgres_major() -> None:
    majors = set()
    for name, service in _services().items():
        if "build" in service:
            continue
        image = service["image"]
        assert re.search(r":\d+\.\d+(\.\d+)?(-pg\d+)?$", image), f"{name}: {image} is not exact"
        if match := re.search(r"(?:postgres:|-pg)(\d+)", image):
            majors.add(match[1])
    assert majors == {"15"}, "TimescaleDB and Dagster's PostgreSQL should share the tested major"


# Only for a machine without configured services (the embedded servers and their
# test hooks): compose always configures PostgreSQL and Redis, so they never apply.
LOCAL_ONLY = {"TRACERA_HOME", "TRACERA_DEFAULT_DATABASE_URL", "TRACERA_DEFAULT_REDIS_URL"}


def test_every_variable_the_code_reads_is_passed_from_env_and_listed_in_env_example() -> None:
    read = _env_names_read_by_code() - LOCAL_ONLY
    assert {"TRACERA_DATABASE_URL", "TRACERA_PROVIDERS", "TRACERA_CSFLOAT_API_KEY"} <= read
    listed = _env_example()
    services = _services()
    for name in PIPELINE_SERVICES:
        env = services[name]["environment"]
        passed = {key for key in env if key.startswith("TRACERA_")}
        assert passed == read, f"{name}: missing {read - passed}, unknown {passed - read}"
        for key in read:
            # A bare key passes .env's value (or leaves it unset); ${KEY:-…} as well.
            assert env[key] is None or key in _interpolated(env[key]), f"{name}: {key}"
    assert read <= listed.keys(), f".env.example lacks {read - listed.keys()}"
    every_interpolation = _interpolated(COMPOSE.read_text())
    assert every_interpolation <= listed.keys(), every_interpolation - listed.keys()


def test_env_example_holds_no_secret() -> None:
    for key, value in _env_example().items():
        if re.search(r"PASSWORD|API_KEY|SECRET|LOGIN", key):
            assert value == "", f".env.example must not carry a value for {key}"


def test_grpc_server_and_workspace_agree() -> None:
    services = _services()
    workspace = yaml.safe_load((REPO_ROOT / "docker" / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    target = entry["grpc_server"]
    command = services["user-code"]["command"]
    assert command[:3] == ["dagster", "api", "grpc"]
    assert command[command.index("-p") + 1] == str(target["port"])
    assert command[command.index("-h") + 1] == "0.0.0.0"
    assert target["host"] in services
    assert target["host"] == "user-code"
    health = services["user-code"]["healthcheck"]["test"]
    assert health[1:4] == ["dagster", "api", "grpc-health-check"]
    assert health[health.index("-p") + 1] == str(target["port"])
    home = _dockerfile_env()["DAGSTER_HOME"]
    for name in ("webserver", "daemon"):
        command = services[name]["command"]
        assert command[command.index("-w") + 1] == f"{home}/workspace.yaml"


def test_instance_settings_come_from_the_environment_of_every_dagster_process() -> None:
    needed = _instance_env_names(REPO_ROOT / "docker" / "dagster.yaml")
    assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD", "DAGSTER_COMPUTE_LOGS_DIR"} <= needed
    services = _services()
    volumes = set()
    for name in DAGSTER_SERVICES:
        env = services[name]["environment"]
        assert needed <= env.keys(), f"{name} lacks {needed - env.keys()}"
        logs_dir = env["DAGSTER_COMPUTE_LOGS_DIR"]
        volumes |= {v for v in services[name]["volumes"] if v.endswith(f":{logs_dir}")}
    # One named volume: what run workers write in user-code, the webserver shows.
    assert len(volumes) == 1 and volumes.pop().split(":")[0] in _compose()["volumes"]
    # Run workers start from the code server: it batches their asset events.
    assert int(services["user-code"]["environment"]["DAGSTER_EVENT_BATCH_SIZE"]) > 1


def test_instance_files_pass_dagsters_validation() -> None:
    for folder in (REPO_ROOT / "docker", REPO_ROOT):
        config, _ = dagster_instance_config(str(folder))
        assert config["concurrency"]["pools"]["default_limit"] == 1
        assert config["concurrency"]["runs"]["max_concurrent_runs"] > 0
        assert config["run_monitoring"]["enabled"] is True
        assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0
        # The run limit lives in concurrency (Dagster refuses it in both places); the
        # queue is checked every second, so a scheduled run waits ~0.5 s, not ~2.5 s.
        coordinator = config["run_coordinator"]["config"]
        assert not {"max_concurrent_runs", "tag_concurrency_limits"} & set(coordinator)
        assert coordinator["dequeue_interval_seconds"] == 1
        assert config["run_retries"]["enabled"] is True


def _dockerfile_env() -> dict[str, str]:
    env = {}
    for match in re.finditer(r"^ENV\s+([A-Z_]+)=(\S+)", DOCKERFILE.read_text(), re.M):
        env[match[1]] = match[2]
    return env


def test_files_the_dockerfile_copies_exist() -> None:
    services = _services()
    for service in services.values():
        if build := service.get("build"):
            assert (REPO_ROOT / build["context"] / build["dockerfile"]) == DOCKERFILE
    copies = [
        shlex.split(line)[1:-1]
        for line in DOCKERFILE.read_text().splitlines()
        if line.startswith("COPY ")
    ]
    sources = [source for sources in copies for source in sources]
    assert "docker/dagster.yaml" in sources and "sql" in sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"the Dockerfile copies missing {source}"


def test_compose_cli_accepts_the_file_when_installed(tmp_path: Path) -> None:
    """`docker-compose config` (v1, offline) or `docker compose config` when present."""
    if shutil.which("docker-compose"):
        command = ["docker-compose"]
    elif shutil.which("docker") and _docker_compose_plugin():
        command = ["docker", "compose"]
    else:
        pytest.skip("no docker-compose / docker compose CLI to validate with")
    env_file = tmp_path / "test.env"
    env_file.write_text("TIMESCALEDB_PASSWORD=x\nDAGSTER_PG_PASSWORD=y\n")
    done = subprocess.run(
        [*command, "--env-file", str(env_file), "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 0, done.stderr


def _docker_compose_plugin() -> bool:
    done = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return done.returncode == 0
