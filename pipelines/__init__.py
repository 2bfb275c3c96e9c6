"""Airflow-orchestrated training pipelines for tabular ML: every step as a plain, testable function."""
