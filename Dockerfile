# One image for every service; the command chooses which (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
# the Thai font the public PDFs are set in (Laksaman)
RUN apt-get update && apt-get install -y --no-install-recommends fonts-thai-tlwg && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
RUN pip install --no-cache-dir . && mkdir -p /evidence && chown nobody /evidence   # the evidence volume's owner
ENV PYTHONUNBUFFERED=1
USER nobody
EXPOSE 8000 8001 8002
CMD ["gunicorn", "-c", "python:services.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "services.submission.app:create_app()"]
