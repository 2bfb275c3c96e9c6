# MLflow tracking server: Postgres backend store, artifacts proxied to S3/MinIO, basic-auth (mlflow[auth]).
FROM python:3.11.11-slim-bookworm

ARG MLFLOW_VERSION=3.17.2
RUN pip install --no-cache-dir "mlflow[auth]==${MLFLOW_VERSION}" "psycopg2-binary==2.9.13" "boto3==1.44.8" \
 && useradd --create-home --uid 10001 mlflow \
 && mkdir -p /home/mlflow/auth && chown mlflow /home/mlflow/auth
USER mlflow
WORKDIR /home/mlflow
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --retries=10 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4).status == 200 else 1)"
ENTRYPOINT ["mlflow", "server"]
