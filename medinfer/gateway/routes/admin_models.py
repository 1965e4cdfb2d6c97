"""``/admin/models``: the registry's operations over HTTP (the CLI's remote mode).

Routes only translate; the work is ``medinfer.registry.Registry`` (found on
``app.state.registry``) and runs in the thread pool because promotions wait for
Triton. ``create_router(read=..., write=...)`` takes the security dependencies
(``models:read`` / ``models:write``); each returns the caller's principal,
whose ``subject`` (or string form) is recorded as the actor.
"""

# No `from __future__ import annotations`: the routes use per-router Annotated aliases.

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from medinfer.common.errors import Forbidden, ValidationFailed
from medinfer.common.multipart import read_form
from medinfer.registry.service import Registry

__all__ = ["create_router"]


class PromoteBody(BaseModel):
    version: int = Field(ge=1)
    reason: str = Field("", max_length=1000)


class ReasonBody(BaseModel):
    reason: str = Field("", max_length=1000)


class TagBody(PromoteBody):
    pass


class CanaryBody(PromoteBody):
    weight: float = Field(gt=0, le=100)
    sticky: bool = False


class ClearBody(ReasonBody):
    automatic: bool = False


def development_only(request: Request) -> str:
    """Default until auth is plugged in: refuse outside development."""
    settings = getattr(request.app.state, "settings", None)
    if getattr(settings, "environment", "development") == "production":
        raise Forbidden("the admin API needs the models:read/models:write security dependency in production")
    return "admin"


def _publish_fields(form) -> dict[str, Any]:
    """The publish form's fields, validated (422 naming the field, never quoting it)."""
    model = form.get("model")
    if model is None or isinstance(model, str):
        raise ValidationFailed("a 'model' file part (ONNX) is required", field="model")
    for part in ("sample", "card", "metadata"):
        if isinstance(form.get(part), str):
            raise ValidationFailed(f"'{part}' must be a file part", field=part)
    raw_version = form.get("version")
    version = None
    if raw_version not in (None, ""):
        if not isinstance(raw_version, str) or not raw_version.isascii() or not raw_version.isdecimal() \
                or int(raw_version) < 1:
            raise ValidationFailed("version must be a whole number >= 1", field="version")
        version = int(raw_version)
    raw_breaking = form.get("breaking", "false")
    if not isinstance(raw_breaking, str) or raw_breaking.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise ValidationFailed("breaking must be true or false", field="breaking")
    reason = form.get("reason", "")
    if not isinstance(reason, str) or len(reason) > 1000:
        raise ValidationFailed("reason must be text of at most 1000 characters", field="reason")
    return {"version": version, "breaking": raw_breaking.lower() in ("true", "1", "yes"), "reason": reason}


def _actor(principal: Any) -> str:
    return str(getattr(principal, "subject", None) or getattr(principal, "sub", None) or principal)[:128]


def _registry(request: Request) -> Registry:
    return request.app.state.registry


def create_router(
    read: Callable[..., Any] = development_only, write: Callable[..., Any] = development_only
) -> APIRouter:
    router = APIRouter(prefix="/admin/models", tags=["admin: models"])
    Reader = Annotated[Any, Depends(read)]
    Writer = Annotated[Any, Depends(write)]
    Reg = Annotated[Registry, Depends(_registry)]

    @router.get("")
    async def list_models(reg: Reg, _: Reader) -> list[dict]:
        return await run_in_threadpool(reg.list_models)

    @router.get("/{name}")
    async def show(name: str, reg: Reg, _: Reader) -> dict:
        return await run_in_threadpool(reg.get_model, name)

    @router.get("/{name}/history")
    async def history(name: str, reg: Reg, _: Reader) -> list[dict]:
        return await run_in_threadpool(reg.history, name)

    @router.post("/{name}/versions", status_code=201)
    async def publish(name: str, request: Request, reg: Reg, who: Writer) -> dict:
        """Multipart parts ``model`` (ONNX, required), ``sample``, ``card``, ``metadata`` (files), ``version``,
        ``breaking``, ``reason``. The body is read only after the caller is authorised (a dependency above;
        FastAPI would parse declared File() parameters before any dependency ran), and in memory."""
        # the gateway's body limit (the edge refuses larger bodies first); 64 MiB when mounted elsewhere
        limit = getattr(getattr(request.app.state, "settings", None), "max_body_bytes", 64 * 1024 * 1024)
        form = await read_form(request, max_bytes=limit, max_files=4, max_fields=3)
        try:
            fields = _publish_fields(form)
            with tempfile.TemporaryDirectory(prefix="medinfer-upload-") as tmp:  # a model, not PHI
                folder = Path(tmp)
                for part, fname in (("model", "model.onnx"), ("sample", "sample.json"), ("card", "README.md"),
                                    ("metadata", "medinfer.json")):
                    upload = form.get(part)
                    if upload is not None and not isinstance(upload, str):
                        (folder / fname).write_bytes(await upload.read())
                return await run_in_threadpool(
                    lambda: reg.publish(folder, name, version=fields["version"], breaking=fields["breaking"],
                                        actor=_actor(who), reason=fields["reason"])
                )
        finally:
            await form.close()

    @router.post("/{name}/versions/{version}/verify")
    async def verify(name: str, version: int, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(lambda: reg.verify(name, version, actor=_actor(who)))

    @router.post("/{name}/promote")
    async def promote(name: str, body: PromoteBody, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(
            lambda: reg.promote(name, body.version, actor=_actor(who), reason=body.reason)
        )

    @router.post("/{name}/rollback")
    async def rollback(name: str, body: ReasonBody, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(lambda: reg.rollback(name, actor=_actor(who), reason=body.reason))

    @router.put("/{name}/tags/{tag}")
    async def set_tag(name: str, tag: str, body: TagBody, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(
            lambda: reg.set_tag(name, tag, body.version, actor=_actor(who), reason=body.reason)
        )

    @router.put("/{name}/canary")
    async def set_canary(name: str, body: CanaryBody, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(
            lambda: reg.set_canary(
                name, body.version, body.weight, sticky=body.sticky, actor=_actor(who), reason=body.reason
            )
        )

    @router.post("/{name}/canary/clear")
    async def clear_canary(name: str, body: ClearBody, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(
            lambda: reg.clear_canary(name, actor=_actor(who), reason=body.reason, automatic=body.automatic)
        )

    return router
