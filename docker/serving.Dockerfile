# Prediction service: serves each project's MLflow `champion` (python -m pipelines serve).
# Multi-stage: dependencies are built in a venv, the runtime image has no compilers and runs as non-root.
FROM python:3.11.11-slim-bookworm AS build
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
# Only what serving needs, at exactly the versions pinned in requirements.txt.
RUN pip install --no-cache-dir -c /tmp/requirements.txt \
      fastapi uvicorn prometheus-client mlflow-skinny scikit-learn lightgbm skops scipy \
      pandas pyarrow boto3 pydantic pyyaml

FROM python:3.11.11-slim-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 serving
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY pipelines /app/pipelines
COPY expectations /app/expectations
ENV PATH=/opt/venv/bin:$PATH PYTHONPATH=/app PYTHONUNBUFFERED=1 MLOPS_HOME=/tmp/mlops
USER serving
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --retries=5 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"
CMD ["python", "-m", "pipelines", "serve", "--host", "0.0.0.0", "--port", "8000"]
