"""The release notices' text: rendered from templates, with each PR's link and preview."""

from __future__ import annotations

from collections.abc import Mapping

from pullrekun.adapters.state.store import Store
from pullrekun.app.render import Renderer, safe_url
from pullrekun.config import Config, ReleaseConfig
from pullrekun.core.model import Instance
from pullrekun.core.releases import Move, ReleasedPR


class NoticeText:
    def __init__(
        self,
        cfg: Config,
        rel: ReleaseConfig,
        store: Store,
        renderer: Renderer,
        instances: Mapping[str, Instance],
    ) -> None:
        self.cfg = cfg
        self.rel = rel
        self.store = store
        self.renderer = renderer
        self.instances = instances

    def _previews(self, prs: tuple[ReleasedPR, ...]) -> dict[int, object]:
        """Where each PR was last served ready, if its instance is still in the pool."""
        found: dict[int, object] = {}
        for pr in prs:
            ready = [d for d in self.store.journal.deployments(pr.number) if d.status == "success"]
            inst = self.instances.get(ready[-1].instance_id) if ready else None
            if inst is not None:
                url = safe_url(self.cfg.url_for(inst.ansible_host, inst.url, pr.number))
                if url is not None:
                    found[pr.number] = url
        return found

    def links(self, prs: tuple[ReleasedPR, ...]) -> dict[int, object]:
        return {pr.number: safe_url(self.cfg.github.pr_url(pr.number)) for pr in prs}

    def render_pending(self, production: str, prs: tuple[ReleasedPR, ...]) -> str:
        return self.renderer.chat(
            "pending.txt.j2",
            production=production,
            base=self.rel.base_branch,
            prs=prs,
            links=self.links(prs),
        ).strip()

    def render_released(self, move: Move, previous: str, current: str, prs: tuple[ReleasedPR, ...]) -> str:
        return self.renderer.chat(
            "release.txt.j2",
            kind=str(move),
            previous=previous,
            current=current,
            prs=prs,
            links=self.links(prs),
            previews=self._previews(prs),
        ).strip()
