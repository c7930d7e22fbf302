"""Static checks of the Helm chart (helm/guichet), the Dockerfile and .dockerignore.

No helm binary is needed. The chart is checked with:
- JSON Schema (values.yaml against values.schema.json),
- a scan of the `.Values.*` paths the templates use,
- a crude render (template actions blanked out) parsed as YAML.
The chart is also rendered for real with `helm_python` (PyPI: helm-python-sdk,
Helm's Go engine as a shared library), and every object it renders is checked
against the Kubernetes API's own OpenAPI schemas (kubernetes-validate, strict:
an unknown or misplaced field fails) for the oldest and newest Kubernetes the
chart supports.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections import Counter
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "guichet"
TEMPLATES = CHART / "templates"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

# The chart's kubeVersion (>=1.25) and the newest API the schemas know.
KUBERNETES_VERSIONS = ("1.25.0", "1.37.0")

WORKLOAD_TEMPLATES = (
    "web-deployment.yaml",
    "worker-deployment.yaml",
    "beat-deployment.yaml",
    "migrations-job.yaml",
)
HOOK_ANNOTATIONS = {
    "helm.sh/hook": "pre-install,pre-upgrade",
    "helm.sh/hook-delete-policy": "before-hook-creation,hook-succeeded",
}


# --------------------------------------------------------------------------- helpers


@lru_cache
def load_values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


@lru_cache
def load_schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())


def values() -> dict[str, Any]:
    """A fresh, mutable copy of the chart defaults."""
    return copy.deepcopy(load_values())


def schema_errors(vals: dict[str, Any]) -> list[str]:
    validator = Draft7Validator(load_schema())
    return [
        "/".join(map(str, e.absolute_path)) + ": " + e.message for e in validator.iter_errors(vals)
    ]


def template_sources() -> dict[str, str]:
    files = (
        sorted(TEMPLATES.glob("*.yaml"))
        + sorted(TEMPLATES.glob("*.tpl"))
        + [TEMPLATES / "NOTES.txt"]
    )
    return {p.name: p.read_text() for p in files if p.exists()}


def iter_paths(node: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (path, value) in a nested dict, parents included."""
    if isinstance(node, dict):
        for key, child in node.items():
            path = (*prefix, str(key))
            yield path, child
            yield from iter_paths(child, path)


def has_path(tree: Any, path: tuple[str, ...]) -> bool:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_ALIAS_DEF = re.compile(
    r"(\$[A-Za-z_][A-Za-z0-9_]*)\s*:?=\s*[$.A-Za-z_]*\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)"
)
_WHOLESALE = re.compile(
    r"\b(?:toYaml|toJson)\s+[$.A-Za-z_]*\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)"
)


def referenced_value_paths() -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
    """(paths read by the templates, paths dumped whole with toYaml/toJson).

    `$c := .Values.config` aliases are followed, so `$c.mode` counts as
    `config.mode`.
    """
    refs: set[tuple[str, ...]] = set()
    wholesale: set[tuple[str, ...]] = set()
    for source in template_sources().values():
        for match in _VALUES_REF.finditer(source):
            refs.add(tuple(match.group(1).strip(".").split(".")))
        for match in _WHOLESALE.finditer(source):
            wholesale.add(tuple(match.group(1).strip(".").split(".")))
        for alias, target in _ALIAS_DEF.findall(source):
            base = tuple(target.strip(".").split("."))
            for use in re.finditer(re.escape(alias) + r"((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", source):
                refs.add(base + tuple(use.group(1).strip(".").split(".")))
    return refs, wholesale


_COMMENT = re.compile(r"{{-?\s*/\*.*?\*/\s*-?}}", re.DOTALL)
_ACTION = re.compile(r"{{.*?}}")
_ONLY_ACTIONS = re.compile(r"^\s*(?:{{.*?}}\s*)+$")


def crude_render(source: str) -> list[dict[str, Any]]:
    """Blank out Go-template actions and parse what is left as YAML.

    Lines holding only actions (if/end/range/include ... | nindent) are
    dropped, inline actions become the scalar `x`. All branches are kept, so
    this only proves the static skeleton of each manifest.
    """
    text = _COMMENT.sub("", source)
    lines = []
    for line in text.splitlines():
        if _ONLY_ACTIONS.match(line):
            continue
        lines.append(_ACTION.sub("x", line))
    return [doc for doc in yaml.safe_load_all("\n".join(lines)) if doc]


@lru_cache
def crude_docs() -> dict[str, list[dict[str, Any]]]:
    return {p.name: crude_render(p.read_text()) for p in sorted(TEMPLATES.glob("*.yaml"))}


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["spec"]["template"]["spec"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = pending + line
        pending = ""
        instruction, _, args = full.partition(" ")
        out.append((instruction.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a line continuation"
    return out


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, args in dockerfile_instructions():
        if instruction == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction, args))
    return stages


# --------------------------------------------------------------------------- Chart.yaml


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "guichet"
    assert chart.get("type", "application") == "application"
    assert re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", str(chart["version"]))
    assert isinstance(chart["appVersion"], str) and chart["appVersion"]


# --------------------------------------------------------------------------- values.schema.json


def test_schema_is_strict_draft7() -> None:
    schema = load_schema()
    Draft7Validator.check_schema(schema)
    assert "draft-07" in schema["$schema"]
    assert schema["additionalProperties"] is False
    for key in (
        "image",
        "serviceAccount",
        "config",
        "secrets",
        "web",
        "worker",
        "beat",
        "migrations",
        "service",
        "ingress",
        "podDisruptionBudget",
        "networkPolicy",
        "persistence",
    ):
        assert schema["properties"][key]["additionalProperties"] is False, key


def test_values_yaml_matches_schema() -> None:
    assert schema_errors(values()) == []


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/definitions/")
        node = schema["definitions"][name]
    return node


def test_every_value_has_a_schema_type() -> None:
    schema = load_schema()
    untyped = []

    def walk(node: Any, sub: dict[str, Any], path: str) -> None:
        sub = _resolve(schema, sub)
        if "type" not in sub and "oneOf" not in sub and "enum" not in sub:
            untyped.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                if key in sub.get("properties", {}):
                    walk(child, sub["properties"][key], f"{path}.{key}")
                elif isinstance(sub.get("additionalProperties"), dict):
                    walk(child, sub["additionalProperties"], f"{path}.{key}")
                else:
                    untyped.append(f"{path}.{key} (not in schema)")
        elif isinstance(node, list) and isinstance(sub.get("items"), dict):
            for i, child in enumerate(node):
                walk(child, sub["items"], f"{path}[{i}]")

    walk(values(), schema, "")
    assert untyped == []


def _set(tree: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        node = node[key]
    node[leaf] = value
    return tree


@pytest.mark.parametrize(
    ("dotted", "bad", "where"),
    [
        ("web.replicas", "two", "web/replicas"),
        ("web.replicas", -1, "web/replicas"),
        ("bogus", True, ""),
        ("web.replica", 3, "web"),
        ("secrets.unknownKey", "x", "secrets"),
        ("config.filesBackend", "ftp", "config/filesBackend"),
        ("config.smtpPort", "587", "config/smtpPort"),
        ("secrets.existingSecret", None, "secrets/existingSecret"),
        ("image.pullPolicy", "Sometimes", "image/pullPolicy"),
        ("ingress.enabled", "yes", "ingress/enabled"),
        ("web.autoscaling.maxReplicas", 0, "web/autoscaling/maxReplicas"),
        ("migrations.tenants", ["ville; rm -rf /"], "migrations/tenants/0"),
        ("config.extra", {"lower_case": "x"}, "config/extra"),
        ("podDisruptionBudget.maxUnavailable", "half", "podDisruptionBudget/maxUnavailable"),
    ],
)
def test_schema_rejects_bad_values(dotted: str, bad: Any, where: str) -> None:
    errors = schema_errors(_set(values(), dotted, bad))
    assert errors, f"{dotted}={bad!r} was accepted"
    assert any(e.startswith(where + ":") for e in errors), errors


def test_schema_accepts_documented_overrides() -> None:
    vals = values()
    vals["secrets"]["existingSecret"] = "guichet-env"
    vals["config"]["extra"] = {"GUICHET_FEATURE_X": "1"}
    vals["podDisruptionBudget"].update(minAvailable="50%", maxUnavailable=None)
    vals["migrations"]["tenants"] = ["ville-a", "ville_b"]
    vals["ingress"]["tls"] = [{"secretName": "t", "hosts": ["a.example.org"]}]
    assert schema_errors(vals) == []


# --------------------------------------------------------------------------- templates vs values


def test_every_referenced_value_exists() -> None:
    refs, _ = referenced_value_paths()
    assert len(refs) > 50, "the .Values scan found suspiciously few references"
    missing = sorted(".".join(p) for p in refs if not has_path(load_values(), p))
    assert missing == []


def test_no_unused_values() -> None:
    """Every key of values.yaml down to depth 2 is read by some template."""
    refs, wholesale = referenced_value_paths()
    unused = []
    for path, _ in iter_paths(load_values()):
        if len(path) > 2:
            continue
        used = any(ref[: len(path)] == path for ref in refs) or any(
            path[: len(w)] == w for w in wholesale
        )
        if not used:
            unused.append(".".join(path))
    assert unused == []


def test_templates_render_to_yaml_with_kind() -> None:
    for name, docs in crude_docs().items():
        assert docs, f"{name} renders to nothing"
        for doc in docs:
            assert isinstance(doc, dict), name
            assert doc.get("apiVersion") and doc.get("kind"), name
            assert doc.get("metadata", {}).get("name"), name


def test_expected_kinds_are_present() -> None:
    kinds = Counter(
        (doc["apiVersion"], doc["kind"]) for docs in crude_docs().values() for doc in docs
    )
    expected = {
        ("apps/v1", "Deployment"): 3,
        ("batch/v1", "Job"): 1,
        ("v1", "Service"): 1,
        ("networking.k8s.io/v1", "Ingress"): 1,
        ("autoscaling/v2", "HorizontalPodAutoscaler"): 2,
        ("v1", "ConfigMap"): 2,  # release + migrations hook copy
        ("v1", "Secret"): 2,  # release + migrations hook copy
        ("policy/v1", "PodDisruptionBudget"): 1,
        ("networking.k8s.io/v1", "NetworkPolicy"): 1,
        ("v1", "PersistentVolumeClaim"): 1,
        ("v1", "ServiceAccount"): 1,
    }
    for kind, count in expected.items():
        assert kinds[kind] >= count, f"{kind}: {kinds[kind]} < {count}"


def _only(name: str, kind: str) -> dict[str, Any]:
    docs = [d for d in crude_docs()[name] if d["kind"] == kind]
    assert len(docs) == 1, f"{name}: {len(docs)} x {kind}"
    return docs[0]


def test_web_deployment_probes() -> None:
    container = pod_spec(_only("web-deployment.yaml", "Deployment"))["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["port"] == "http"
    assert container["ports"][0] == {"name": "http", "containerPort": 8000, "protocol": "TCP"}
    assert container["args"] == ["guichet", "web", "--host", "0.0.0.0", "--port", "8000"]


def test_worker_and_beat_commands() -> None:
    worker = pod_spec(_only("worker-deployment.yaml", "Deployment"))["containers"][0]
    assert worker["args"][:4] == ["celery", "-A", "workers.celery_app", "worker"]
    beat_doc = _only("beat-deployment.yaml", "Deployment")
    beat = pod_spec(beat_doc)["containers"][0]
    assert beat["args"][:4] == ["celery", "-A", "workers.celery_app", "beat"]
    # Read-only root FS: the schedule file must live on the /tmp emptyDir.
    assert "--schedule=/tmp/celerybeat-schedule" in beat["args"]
    assert beat_doc["spec"]["replicas"] == 1
    assert beat_doc["spec"]["strategy"] == {"type": "Recreate"}


def test_migration_job_is_a_pre_install_hook() -> None:
    source = (TEMPLATES / "migrations-job.yaml").read_text()
    docs = crude_docs()["migrations-job.yaml"]
    job = _only("migrations-job.yaml", "Job")
    annotations = job["metadata"]["annotations"]
    for key, value in HOOK_ANNOTATIONS.items():
        assert annotations[key] == value
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert '"guichet", "migrate"' in source
    # Hook-scoped config must exist before the Job (lower weight).
    for doc in docs:
        if doc["kind"] in ("ConfigMap", "Secret"):
            assert (
                doc["metadata"]["annotations"]["helm.sh/hook"] == HOOK_ANNOTATIONS["helm.sh/hook"]
            )
            assert int(doc["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
                annotations["helm.sh/hook-weight"]
            )


def test_secret_only_without_existing_secret() -> None:
    source = (TEMPLATES / "secret.yaml").read_text()
    assert source.lstrip().startswith("{{- if not .Values.secrets.existingSecret }}")
    assert source.rstrip().endswith("{{- end }}")
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    assert re.search(
        r'define "guichet.secretName".*?\.Values\.secrets\.existingSecret', helpers, re.DOTALL
    )


def test_optional_objects_have_enabled_flags() -> None:
    guards = {
        "ingress.yaml": ".Values.ingress.enabled",
        "pdb.yaml": ".Values.podDisruptionBudget.enabled",
        "networkpolicy.yaml": ".Values.networkPolicy.enabled",
        "pvc.yaml": ".Values.persistence.enabled",
        "hpa.yaml": ".Values.web.autoscaling.enabled",
        "worker-deployment.yaml": ".Values.worker.enabled",
        "beat-deployment.yaml": ".Values.beat.enabled",
        "migrations-job.yaml": ".Values.migrations.enabled",
    }
    for name, flag in guards.items():
        first = (TEMPLATES / name).read_text().lstrip().splitlines()[0]
        assert first.startswith("{{- if") and flag in first, f"{name}: {first}"
    # Default values keep optional features off where they need cluster setup.
    vals = load_values()
    assert vals["ingress"]["enabled"] is False
    assert vals["networkPolicy"]["enabled"] is False
    assert vals["persistence"]["enabled"] is False


@pytest.mark.parametrize("name", WORKLOAD_TEMPLATES)
def test_workloads_are_hardened(name: str) -> None:
    source = (TEMPLATES / name).read_text()
    for doc in crude_docs()[name]:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = pod_spec(doc)
        assert "securityContext" in spec
        assert spec["automountServiceAccountToken"] in (False, "x")
        for container in spec["containers"]:
            for key in ("resources", "securityContext", "volumeMounts", "image"):
                assert key in container, f"{name}/{container['name']}: no {key}"
    for snippet in (
        "toYaml .Values.podSecurityContext",
        "toYaml .Values.securityContext",
        'include "guichet.volumes"',
        'include "guichet.volumeMounts"',
    ):
        assert snippet in source, f"{name}: missing {snippet}"


def test_default_security_settings() -> None:
    vals = load_values()
    pod, container = vals["podSecurityContext"], vals["securityContext"]
    assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001
    assert container["runAsNonRoot"] is True
    assert container["readOnlyRootFilesystem"] is True
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"]["drop"] == ["ALL"]
    for component in ("web", "worker", "beat", "migrations"):
        resources = vals[component]["resources"]
        assert resources["requests"]["cpu"] and resources["requests"]["memory"], component
        assert resources["limits"]["memory"], component
    helpers = (TEMPLATES / "_helpers.tpl").read_text()
    assert re.search(r"- name: tmp\n\s+mountPath: /tmp", helpers)
    assert re.search(r"- name: tmp\n\s+emptyDir:", helpers)


# --------------------------------------------------------------------------- real render


@pytest.fixture(scope="module")
def helm():
    import helm_python  # a test dependency (pyproject.toml): missing is a failure, not a skip

    return helm_python


def render(helm, overrides: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    chart = helm.Chart.load(str(CHART))
    chart.validate_schema(overrides or {})
    manifests = chart.render(overrides or {}, name="rel", namespace="ns", is_install=True)
    docs = []
    for path, text in manifests.items():
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


ALL_ON = {
    "config": {"filesBackend": "local"},
    "persistence": {"enabled": True},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "tls": [{"secretName": "t", "hosts": ["guichet.example.org"]}],
    },
    "web": {
        "autoscaling": {
            "enabled": True,
            "minReplicas": 2,
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": 70,
        }
    },
    "worker": {
        "autoscaling": {
            "enabled": True,
            "minReplicas": 1,
            "maxReplicas": 3,
            "targetCPUUtilizationPercentage": 80,
        }
    },
    "networkPolicy": {"enabled": True, "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]},
    "migrations": {"tenants": ["ville-a"]},
}


METRICS_ON = {
    "metrics": {"enabled": True, "workerPort": 9100, "scrapeFrom": [{"podSelector": {}}]},
    "secrets": {"existingSecret": "", "metricsToken": "tok-123"},
    "networkPolicy": {"enabled": True},
}


def test_real_render_all_features(helm) -> None:
    docs = render(helm, ALL_ON)
    kinds = Counter(d["kind"] for d in docs)
    assert kinds["Deployment"] == 3
    assert kinds["Job"] == 1
    assert kinds["HorizontalPodAutoscaler"] == 2
    for kind in (
        "Service",
        "Ingress",
        "ConfigMap",
        "Secret",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "ServiceAccount",
    ):
        assert kinds[kind] >= 1, kind
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    web = by_name[("Deployment", "rel-guichet-web")]
    assert "replicas" not in web["spec"]  # owned by the HPA
    for doc in docs:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = pod_spec(doc)
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes["tmp"]
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True and sc["runAsNonRoot"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert c["resources"]["requests"] and c["resources"]["limits"], c["name"]
            assert {"name": "tmp", "mountPath": "/tmp"} in c["volumeMounts"]
    job = by_name[("Job", "rel-guichet-migrations")]
    assert (
        "guichet tenants apply tenants/ville-a"
        in job["spec"]["template"]["spec"]["containers"][0]["args"][0]
    )


def test_real_render_defaults_share_generated_secret_key(helm) -> None:
    docs = render(helm)
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    assert set(secrets) == {"rel-guichet", "rel-guichet-migrations"}
    keys = {s["data"]["GUICHET_SECRET_KEY"] for s in secrets.values()}
    assert len(keys) == 1
    assert not any(d["kind"] in ("Ingress", "NetworkPolicy", "PersistentVolumeClaim") for d in docs)


def test_real_render_existing_secret(helm) -> None:
    docs = render(helm, {"secrets": {"existingSecret": "guichet-env"}})
    assert not any(d["kind"] == "Secret" for d in docs)
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            refs = [
                e["secretRef"]["name"]
                for e in pod_spec(doc)["containers"][0]["envFrom"]
                if "secretRef" in e
            ]
            assert refs == ["guichet-env"], doc["metadata"]["name"]


def test_real_render_rejects_local_files_without_volume(helm) -> None:
    with pytest.raises(helm.HelmError, match=r"persistence\.enabled"):
        render(helm, {"config": {"filesBackend": "local"}})


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_is_multi_stage() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2
    froms = [args for stage in stages for ins, args in stage if ins == "FROM"]
    assert all("3.11" in f or f.startswith("${") for f in froms), froms
    final = stages[-1]
    assert any(ins == "COPY" and "--from=builder" in args for ins, args in final)
    assert not any(ins == "RUN" and "build-essential" in args for ins, args in final)


def test_dockerfile_runs_as_non_root() -> None:
    final = dockerfile_stages()[-1]
    users = [args for ins, args in final if ins == "USER"]
    assert users, "no USER in the final stage"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    assert user == "10001"  # numeric, so runAsNonRoot can be verified


def test_dockerfile_runtime_settings() -> None:
    final = dockerfile_stages()[-1]
    env: dict[str, str] = {}
    for ins, args in final:
        if ins == "ENV":
            env.update(tok.split("=", 1) for tok in shlex.split(args) if "=" in tok)
    assert env["GUICHET_ROOT"] == "/app"
    assert env["GUICHET_MODE"] == "production"
    assert ("EXPOSE", "8000") in final
    cmd = [json.loads(args) for ins, args in final if ins == "CMD"]
    assert cmd == [["guichet", "web", "--host", "0.0.0.0", "--port", "8000"]]
    assert not any(ins == "HEALTHCHECK" for ins, _ in dockerfile_instructions())
    copied = " ".join(args for ins, args in final if ins == "COPY")
    for item in ("themes", "tenants", "migrations", "alembic.ini"):
        assert re.search(rf"(^|\s){re.escape(item)}\s", copied), item
    installed = " ".join(args for ins, args in final if ins == "RUN")
    for lib in (
        "libpango-1.0-0",
        "libpangoft2-1.0-0",
        "libharfbuzz0b",
        "libfontconfig1",
        "fonts-dejavu-core",
    ):
        assert lib in installed, lib


def test_dockerignore() -> None:
    entries = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for entry in (".git", ".venv", "var", "**/__pycache__", "**/*.pyc"):
        assert entry in entries, entry
    # Needed by the build: must not be ignored.
    for needed in (
        "platform",
        "workers",
        "themes",
        "tenants",
        "migrations",
        "alembic.ini",
        "pyproject.toml",
    ):
        assert needed not in entries, needed


def test_real_render_metrics(helm) -> None:
    import base64

    docs = render(helm, {**METRICS_ON, "extraEnv": [{"name": "TZ", "value": "Europe/Paris"}]})
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    worker = pod_spec(by_name[("Deployment", "rel-guichet-worker")])["containers"][0]
    env = {e["name"]: e.get("value") for e in worker["env"]}
    assert env["GUICHET_WORKER_METRICS_PORT"] == "9100" and env["TZ"] == "Europe/Paris"
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")  # the writable emptyDir
    assert worker["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
    secret = by_name[("Secret", "rel-guichet")]["data"]
    assert base64.b64decode(secret["GUICHET_METRICS_TOKEN"]) == b"tok-123"
    policy = by_name[("NetworkPolicy", "rel-guichet-worker-metrics")]["spec"]
    assert policy["ingress"] == [
        {"ports": [{"port": "metrics", "protocol": "TCP"}], "from": [{"podSelector": {}}]}
    ]
    # Metrics off (the default): no port, no policy, no variable.
    plain = render(helm)
    worker = pod_spec(next(d for d in plain if d["metadata"]["name"] == "rel-guichet-worker"))[
        "containers"
    ][0]
    assert "ports" not in worker and "env" not in worker
    assert not any(d["metadata"]["name"].endswith("worker-metrics") for d in plain)


@pytest.mark.parametrize("kubernetes", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(
    "overrides", [None, ALL_ON, METRICS_ON], ids=["defaults", "all-features", "metrics"]
)
def test_real_render_is_valid_for_the_kubernetes_api(helm, overrides, kubernetes) -> None:
    import kubernetes_validate

    docs = render(helm, overrides)
    assert docs
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, kubernetes, strict=True)
        except kubernetes_validate.ValidationError as exc:  # pragma: no cover - the message
            name = f"{doc['kind']} {doc['metadata']['name']}"
            raise AssertionError(f"{name}: {exc.message} at {list(exc.path)}") from None
