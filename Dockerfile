# syntax=docker/dockerfile:1
# The queue system as one image: gunicorn serves HTTP on port 8000 (the default command); the
# same image runs Daphne for the WebSockets (docker-compose.yml's `ws` service).
# Build: docker build -t queue-system .   Run: see docker-compose.yml and docs/deployment.md.
# The Python version is the one CI tests (pyproject.toml: requires-python >= 3.11).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build stage: compilers and headers for mysqlclient stay here --------------------------
FROM ${PYTHON_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential default-libmysqlclient-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --upgrade pip \
    && pip install --no-cache-dir -r /tmp/requirements.txt

# --- runtime stage: the MariaDB client library only, no compilers ------------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmariadb3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    QUEUE_IGNORE_DOTENV=1
WORKDIR /app
COPY . /app
# Static files are collected at build time with throw-away production settings (none of these
# values stays in the image); the real ones come from the environment at run time.
# staticfiles/ (shared with nginx through a volume) and var/ (SMS files, SQLite if used) are
# the only places the app user may write.
RUN DEBUG=0 SECRET_KEY=build-only-collectstatic-key-not-used-at-run-time-0123456789 \
        ALLOWED_HOSTS=localhost SMS_BACKEND=console DATABASE_URL=sqlite:////tmp/build.sqlite3 \
        python manage.py collectstatic --noinput -v0 \
    && mkdir -p /app/var \
    && chown -R app:app /app/staticfiles /app/var \
    && chmod +x /app/deploy/docker-entrypoint.sh
USER app
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 CMD ["python", "deploy/healthcheck.py"]
# The entry point migrates (one replica at a time, under a database lock) and refreshes the
# shared static files, then runs the command.
ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]
# deploy/gunicorn.conf.py: WEB_CONCURRENCY workers (2 per core + 1 by default), no access log (the
# app logs each request without query strings), X-Forwarded-For trusted by the app itself
# (TRUSTED_PROXIES), not by gunicorn.
ENV WEB_BIND=0.0.0.0:8000
CMD ["gunicorn", "-c", "deploy/gunicorn.conf.py", "queue_system.wsgi:application"]
