"""The model registry: versions registered once per run, their tags and descriptions, and the aliases
(champion, challenger, previous) read in one call so a caller sees a consistent snapshot.
"""

from __future__ import annotations

from typing import Any

from pipelines.contracts import names
from pipelines.resources.registry.client import MlflowClientBase, VersionInfo, VersionNotFound, already_exists, is_not_found


class VersionRegistry(MlflowClientBase):
    """Registered versions and aliases of each project's model (never the deprecated stages)."""

    # ------------------------------------------------------------------------------ registry
    def aliases(self, project: str) -> dict[str, str]:
        """alias -> version, read in ONE call (a consistent snapshot). {} when no model is registered."""
        try:
            rm = self.client.get_registered_model(project)
        except Exception as e:
            if is_not_found(e):
                return {}
            raise
        return {str(k): str(v) for k, v in (rm.aliases or {}).items()}

    def snapshot(self, project: str) -> tuple[dict[str, str], dict[str, str]]:
        """(aliases, registered-model tags) read in ONE call; ({}, {}) when no model is registered."""
        try:
            rm = self.client.get_registered_model(project)
        except Exception as e:
            if is_not_found(e):
                return {}, {}
            raise
        return {str(k): str(v) for k, v in (rm.aliases or {}).items()}, dict(rm.tags or {})

    def model_tags(self, project: str) -> dict[str, str]:
        try:
            return dict(self.client.get_registered_model(project).tags)
        except Exception as e:
            if is_not_found(e):
                return {}
            raise

    def set_model_tag(self, project: str, key: str, value: str) -> None:
        self.client.set_registered_model_tag(project, key, value)

    def delete_model_tag(self, project: str, key: str) -> None:
        self.client.delete_registered_model_tag(project, key)

    def version(self, project: str, version: str) -> VersionInfo:
        try:
            mv = self.client.get_model_version(project, str(version))
        except Exception as e:
            if is_not_found(e):
                raise VersionNotFound(f"{project} has no version {version}") from e
            raise
        return VersionInfo(str(mv.version), mv.run_id, dict(mv.tags), mv.source or "", getattr(mv, "model_id", None),
                           tuple(mv.aliases or ()))

    def alias_version(self, project: str, alias: str) -> VersionInfo | None:
        v = self.aliases(project).get(alias)
        return self.version(project, v) if v is not None else None

    def versions_of_run(self, project: str, run_id: str) -> list[VersionInfo]:
        found = self.client.search_model_versions(f"name = '{project}' and run_id = '{run_id}'")
        return [VersionInfo(str(m.version), m.run_id, dict(m.tags), m.source or "", getattr(m, "model_id", None)) for m in found]

    def register(self, project: str, model_uri: str, run_id: str, tags: dict[str, str]) -> tuple[str, bool]:
        """Register the run's model once: a rerun returns the existing version (reused=True)."""
        existing = self.versions_of_run(project, run_id)
        if existing:
            return max(existing, key=lambda m: int(m.version)).version, True
        try:
            self.client.create_registered_model(project, tags={names.PROJECT: project},
                                                description=f"{project}: champion/challenger registry (aliases champion, "
                                                            "challenger, previous)")
        except Exception as e:
            if not already_exists(e):
                raise
        model_id, source = None, model_uri
        if model_uri.startswith("models:/m-"):
            # The artifact location itself: the registry would otherwise resolve the logged model
            # through MLflow's GLOBAL tracking URI, which this client never sets.
            model_id = model_uri.removeprefix("models:/")
            source = str(self.client.get_logged_model(model_id).artifact_location)
        mv = self.client.create_model_version(project, source, run_id=run_id, tags=tags, model_id=model_id)
        return str(mv.version), False

    def set_version_tags(self, project: str, version: str, tags: dict[str, Any]) -> None:
        for k, v in tags.items():
            self.client.set_model_version_tag(project, version, k, str(v)[:5000])

    def set_version_description(self, project: str, version: str, markdown: str) -> None:
        self.client.update_model_version(project, version, description=markdown[:60_000])

    def set_alias(self, project: str, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(project, alias, version)

    def delete_alias(self, project: str, alias: str) -> None:
        self.client.delete_registered_model_alias(project, alias)
