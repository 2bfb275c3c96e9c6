"""The Airflow edge's helpers that are not DAG files: the failure notifier every task of a project's
DAGs carries, what the DAG files share (`dag_support`: the retrain Assets, the monitors' default
args, a run's dates), and the `[core] hostname_callable` that names each Celery worker. The DAG files
(`dags/`) wire tasks; this package holds what Airflow calls back into.

May import: every layer below the edges (`config`, `contracts`, `resources`, `steps`) and Airflow.
"""
