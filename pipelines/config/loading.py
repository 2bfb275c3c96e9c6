"""Loading a project YAML: a bad file fails with the dotted field path and the reason, before any
task runs.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from pipelines.config.base import ProjectConfigError
from pipelines.config.project import ProjectConfig
from pipelines.config.settings import Settings, get_settings


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = [f"invalid project file {path}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  - {loc}: {e['msg']}")
    return "\n".join(lines)


def load_project_file(path: Path) -> ProjectConfig:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise ProjectConfigError(f"project file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ProjectConfigError(f"project file {path} is not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ProjectConfigError(f"project file {path} must hold a mapping, got {type(raw).__name__}")
    try:
        cfg = ProjectConfig.model_validate(raw)
    except ValidationError as e:
        raise ProjectConfigError(_format_errors(path, e)) from e
    if cfg.name != path.stem:
        raise ProjectConfigError(f"project file {path}: name {cfg.name!r} must match the file name {path.stem!r}")
    return cfg


def with_proposed_policy(cfg: ProjectConfig, path: Path) -> ProjectConfig:
    """`cfg` with the `promotion:` block of a proposed policy file (the block itself, or a YAML holding
    a `promotion:` key, e.g. an edited copy of the project file), checked like the project file."""
    try:
        text = path.read_text()
    except FileNotFoundError as e:
        raise ProjectConfigError(f"policy file not found: {path}") from e
    return with_policy_text(cfg, text, f"policy file {path}")


def with_policy_text(cfg: ProjectConfig, text: str, source: str = "the proposed policy") -> ProjectConfig:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ProjectConfigError(f"{source} is not valid YAML: {e}") from e
    if isinstance(raw, dict) and "promotion" in raw:
        raw = raw["promotion"]
    if not isinstance(raw, dict):
        raise ProjectConfigError(f"{source} must hold a promotion block (value_thresholds, change_thresholds, ...)")
    try:
        return ProjectConfig.model_validate({**cfg.model_dump(), "promotion": raw})
    except ValidationError as e:
        raise ProjectConfigError(_format_errors(Path(source), e)) from e


def project_names(settings: Settings | None = None) -> list[str]:
    s = settings or get_settings()
    return sorted(p.stem for p in s.projects_dir.glob("*.yaml"))


def load_project(name: str, settings: Settings | None = None) -> ProjectConfig:
    s = settings or get_settings()
    path = s.projects_dir / f"{name}.yaml"
    if not path.exists():
        known = project_names(s)
        raise ProjectConfigError(f"unknown project {name!r}; known projects in {s.projects_dir}: {known}")
    return load_project_file(path)
