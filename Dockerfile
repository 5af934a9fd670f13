# kpi-api: migrations, then uvicorn, as a non-root user.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY migrations ./migrations
RUN pip install --no-cache-dir build && python -m build --wheel --outdir /dist

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 kpi && mkdir /data && chown kpi /data
COPY --from=build /dist/*.whl /tmp/
RUN pip install --no-cache-dir /tmp/*.whl && rm /tmp/*.whl
USER kpi
WORKDIR /data
ENV KPI_API_DATABASE_URL=sqlite:////data/kpi-api.db \
    KPI_API_HOST=0.0.0.0 \
    KPI_API_PORT=8000
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready')"
# `serve` upgrades the schema, loads the canonical catalogue (idempotent), then starts uvicorn.
CMD ["kpi-api", "serve"]
