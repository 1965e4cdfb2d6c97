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

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from medinfer.common.errors import Forbidden
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


class ShadowBody(PromoteBody):
    share: float = Field(gt=0, le=100)


class ClearBody(ReasonBody):
    automatic: bool = False


def development_only(request: Request) -> str:
    """Default until auth is plugged in: refuse outside development."""
    settings = getattr(request.app.state, "settings", None)
    if getattr(settings, "environment", "development") == "production":
        raise Forbidden("the admin API needs the models:read/models:write security dependency in production")
    return "admin"


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
    async def publish(
        name: str,
        reg: Reg,
        who: Writer,
        model: Annotated[UploadFile, File()],
        sample: Annotated[UploadFile | None, File()] = None,
        card: Annotated[UploadFile | None, File()] = None,
        metadata: Annotated[UploadFile | None, File()] = None,
        version: Annotated[int | None, Form(ge=1)] = None,
        breaking: Annotated[bool, Form()] = False,
        reason: Annotated[str, Form(max_length=1000)] = "",
    ) -> dict:
        with tempfile.TemporaryDirectory(prefix="medinfer-upload-") as tmp:
            folder = Path(tmp)
            for upload, fname in (
                (model, "model.onnx"),
                (sample, "sample.json"),
                (card, "README.md"),
                (metadata, "medinfer.json"),
            ):
                if upload is not None:
                    (folder / fname).write_bytes(await upload.read())
            return await run_in_threadpool(
                lambda: reg.publish(
                    folder, name, version=version, breaking=breaking, actor=_actor(who), reason=reason
                )
            )

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

    @router.put("/{name}/shadow")
    async def set_shadow(name: str, body: ShadowBody, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(
            lambda: reg.set_shadow(name, body.version, body.share, actor=_actor(who), reason=body.reason)
        )

    @router.post("/{name}/shadow/clear")
    async def clear_shadow(name: str, body: ReasonBody, reg: Reg, who: Writer) -> dict:
        return await run_in_threadpool(lambda: reg.clear_shadow(name, actor=_actor(who), reason=body.reason))

    return router
