# Airflow 3 with this project's pinned requirements. dags/, plugins/, pipelines/ and expectations/
# are baked in (and mounted over in development by docker-compose.airflow.yml).
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
USER airflow

COPY requirements.txt /tmp/requirements.txt
# Keep the image's Airflow version; everything else exactly as pinned in requirements.txt.
RUN pip install --no-cache-dir "apache-airflow==3.3.2" -r /tmp/requirements.txt

COPY --chown=airflow:root pipelines /opt/airflow/pipelines
COPY --chown=airflow:root expectations /opt/airflow/expectations
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
COPY --chown=airflow:root scripts /opt/airflow/scripts
ENV PYTHONPATH=/opt/airflow \
    MLOPS_EXPECTATIONS_DIR=/opt/airflow/expectations \
    MLOPS_PROJECTS_DIR=/opt/airflow/pipelines/projects
