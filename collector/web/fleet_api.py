"""The fleet registry over HTTP: list, add and remove sites, rotate a site's password.

Admins only (reads too: the list says which sites have broker accounts); every change is
in the audit log. A new password is in the answer once and never stored in clear.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from collector.db.connection import request_db
from collector.fleet.registry import Registry, RegistryError, config_sites
from collector.web.contract import errors, validation_error
from parkwatch.core.ids import ID_PATTERN as ID


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project: str = Field(pattern=ID)
    site: str = Field(pattern=ID)
    devices: list[str] | None = Field(None, min_length=1, max_length=1000)


def _admin(request: Request) -> str:
    user = getattr(request.state, "user", None)
    if user is None:
        raise HTTPException(401, "sign in first (session cookie or bearer token)")
    if not user.can("users.manage"):
        raise HTTPException(403, f"a {user.role} may not manage the fleet registry")
    return user.username


def router(cfg, clock) -> APIRouter:
    r = APIRouter(prefix="/api/fleet")
    configured = config_sites(cfg)

    def registry() -> Registry:
        return Registry(request_db(cfg.database), configured)

    def answer(fn):
        try:
            return fn()
        except RegistryError as e:
            body = validation_error(e.message) if e.status == 422 else {"detail": e.message}
            return JSONResponse(body, status_code=e.status)

    @r.get("/sites")
    def list_sites(request: Request):
        _admin(request)
        return registry().list()

    @r.post("/sites", status_code=201, responses=errors(409))
    def add_site(body: SiteIn, request: Request):
        who = _admin(request)

        def add():
            password = registry().add(body.project, body.site, body.devices, who, clock())
            return {"project": body.project, "site": body.site, "devices": body.devices,
                    "username": f"{body.project}/{body.site}", "password": password}
        return answer(add)

    @r.delete("/sites/{project}/{site}", responses=errors(404, 409))
    def remove_site(request: Request, project: str = Path(pattern=ID),
                    site: str = Path(pattern=ID)):
        who = _admin(request)

        def remove():
            still = registry().remove(project, site, who, clock())
            return {"project": project, "site": site, "removed": True,
                    "still_in_config": still}
        return answer(remove)

    @r.post("/sites/{project}/{site}/password", responses=errors(404))
    def rotate(request: Request, project: str = Path(pattern=ID),
               site: str = Path(pattern=ID)):
        who = _admin(request)
        return answer(lambda: {"project": project, "site": site,
                               "username": f"{project}/{site}",
                               "password": registry().passwd(project, site, who, clock())})

    return r
