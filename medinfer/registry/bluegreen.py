"""Blue-green Triton in Kubernetes: the Services ``triton`` and ``triton-pods`` (headless:
the pods the gateways' registry loads versions on and routes to) whose selectors pick the
slot (``triton-blue`` or ``triton-green`` Deployment). The manifests live in
``deploy/components/bluegreen``; the label key and names here must match them.

``switch`` builds the merge patch for the Service selector; with ``apply`` it
first waits for the target Deployment's rollout to be complete (so traffic never
moves to pods that are not ready) and then patches the Service with ``kubectl``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass

from medinfer.common.errors import BackendUnavailable, ValidationFailed

__all__ = [
    "SLOTS",
    "SLOT_LABEL",
    "SERVICE",
    "NAMESPACE",
    "BlueGreenPlan",
    "plan_switch",
    "apply_switch",
    "current_slot",
]

SLOTS = ("blue", "green")
SLOT_LABEL = "medinfer.io/slot"
APP_LABEL = ("app.kubernetes.io/name", "triton")
SERVICE = "triton"
PODS_SERVICE = "triton-pods"  # headless; both follow the live slot
NAMESPACE = "medinfer"


@dataclass(frozen=True)
class BlueGreenPlan:
    to: str
    namespace: str
    patch: dict

    @property
    def patch_json(self) -> str:
        return json.dumps(self.patch, separators=(",", ":"))

    def kubectl_args(self, service: str = SERVICE) -> list[str]:
        return ["-n", self.namespace, "patch", "service", service, "--type", "merge", "-p", self.patch_json]

    def command(self) -> str:
        return " && ".join(f"kubectl -n {self.namespace} patch service {svc} --type merge -p '{self.patch_json}'"
                           for svc in (PODS_SERVICE, SERVICE))


def plan_switch(to: str, namespace: str = NAMESPACE) -> BlueGreenPlan:
    if to not in SLOTS:
        raise ValidationFailed("slot must be 'blue' or 'green'", field="to")
    patch = {"spec": {"selector": {APP_LABEL[0]: APP_LABEL[1], SLOT_LABEL: to}}}
    return BlueGreenPlan(to, namespace, patch)


def _kubectl(args: list[str], kubectl: str, timeout: float) -> str:
    exe = shutil.which(kubectl) or kubectl
    try:
        done = subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        raise BackendUnavailable("kubectl could not be run", code="kubectl-failed") from None
    if done.returncode != 0:
        raise BackendUnavailable(f"kubectl failed: {done.stderr.strip()[:300]}", code="kubectl-failed")
    return done.stdout


def current_slot(namespace: str = NAMESPACE, kubectl: str = "kubectl") -> str | None:
    out = _kubectl(["-n", namespace, "get", "service", SERVICE, "-o", "json"], kubectl, 30)
    return json.loads(out).get("spec", {}).get("selector", {}).get(SLOT_LABEL)


def apply_switch(plan: BlueGreenPlan, kubectl: str = "kubectl", rollout_timeout: str = "300s") -> str:
    _kubectl(
        [
            "-n",
            plan.namespace,
            "rollout",
            "status",
            f"deployment/triton-{plan.to}",
            f"--timeout={rollout_timeout}",
        ],
        kubectl,
        600,
    )
    # The gateways reconcile the new slot's pods (loading the routed versions) before the
    # load-balanced Service moves to them.
    out = _kubectl(plan.kubectl_args(PODS_SERVICE), kubectl, 60)
    return out + _kubectl(plan.kubectl_args(SERVICE), kubectl, 60)
