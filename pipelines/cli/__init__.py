"""`python -m pipelines <command>`: onboard and feed data, run a project without Airflow, show status,
validate files, operate the registry, serve. The composition root for the command line: settings
and stores are built once here and handed to the commands.

An edge over the steps: a module per group of commands; may import every layer below it and the
other edges it starts (serving, onboarding).
"""

from __future__ import annotations

import argparse
import logging
import sys

from pipelines.cli.data import add_data_commands
from pipelines.cli.outcomes import add_outcomes_commands
from pipelines.cli.registry import add_registry_commands
from pipelines.cli.runs import add_run_commands
from pipelines.cli.setup import add_setup_commands
from pipelines.config.settings import Settings


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pipelines", description=__doc__)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (add_data_commands, add_run_commands, add_registry_commands, add_outcomes_commands, add_setup_commands):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if a.verbose else logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("great_expectations", "mlflow", "alembic", "urllib3", "botocore", "matplotlib", "evidently", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from pipelines.config import ProjectConfigError
    from pipelines.config.settings import SettingsError
    from pipelines.resources.redaction import Redactor, install

    try:
        s = Settings.from_env()
    except SettingsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    install(Redactor(s.secrets))
    try:
        return int(a.fn(a, s))
    except Exception as e:
        if not isinstance(e, (ProjectConfigError, FileNotFoundError, *_expected_errors())):
            raise
        print(f"error: {Redactor(s.secrets)(str(e))}", file=sys.stderr)
        return 2


def _expected_errors() -> tuple[type[BaseException], ...]:
    """User-facing errors that end the command with exit 2 and one clear line (no traceback)."""
    from pipelines.domain.outcomes import OutcomeJoinError
    from pipelines.domain.search import SearchError
    from pipelines.domain.targets import TargetError
    from pipelines.domain.validation import DataValidationError
    from pipelines.onboarding import OnboardingError
    from pipelines.resources.databases import DatabaseSetupError
    from pipelines.resources.lake import LakeError
    from pipelines.resources.locks import LockTimeout
    from pipelines.resources.registry import RegistryError
    from pipelines.serving import InsecureServingError
    from pipelines.steps.extract import EmptyWindowError, ExtractError
    from pipelines.steps.feed import FeedError
    from pipelines.steps.operations import GovernanceError
    from pipelines.steps.outcomes import OutcomesNotConfigured

    return (DatabaseSetupError, GovernanceError, FeedError, LakeError, EmptyWindowError, ExtractError, DataValidationError, OnboardingError,
            LockTimeout, RegistryError, SearchError, TargetError, InsecureServingError, FileExistsError, OutcomeJoinError,
            OutcomesNotConfigured)
