"""Airflow-orchestrated training pipelines for tabular ML: every step as a plain, testable function.

The folder says the layer, and imports only point down (`tests/test_layers.py` keeps it so):

    edges         cli/  serving/  onboarding/  orchestration/   (and dags/, plugins/ outside the package)
                    |  may import every layer below
    steps/        one module per pipeline step: load inputs through the resources, call the domain,
                    |  write outputs, return a contract
    domain/  resources/
                  domain: pure functions over frames, arrays and a config (no store of ours);
                  resources: the stores (lake, registry, locks, alerts) and the composition root;
                  neither imports the other, nor anything above
    config/  contracts/
                  shared by every layer: the project YAML schema and the environment's settings; the
                  typed hand-offs, the lake layout and the MLflow names
"""
