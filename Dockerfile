# snapbot: the Slack app for Cloudify Manager backups.
#   docker build -t snapbot .
#   docker run -v snapbot-data:/data -e SLACK_BOT_TOKEN -e SLACK_APP_TOKEN \
#     -e CLOUDIFY_URL=https://manager.example.com -e CLOUDIFY_PASSWORD snapbot
# (HTTP mode instead of Socket Mode: leave SLACK_APP_TOKEN out, set SLACK_SIGNING_SECRET, -p 3000:3000.)
# .ci/docker-smoke builds this image and runs it against the simulator and the Slack stand-in.

# Build stage: install snapbot and its dependencies into a virtualenv, with the base image's own
# pip (the final image carries no build tools and no source tree).
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Every package pyproject.toml installs (tests/test_deploy.py keeps this list in step).
COPY pyproject.toml README.md ./
COPY snapbot ./snapbot
COPY bot ./bot
COPY handlers ./handlers
COPY devtools ./devtools
# sqlite-utils pulls in pip for its own `install` subcommand, which snapbot never runs: dropped.
RUN python3 -m venv --without-pip /opt/venv \
    && python3 -m pip --python /opt/venv/bin/python install --no-cache-dir --no-compile . \
    && python3 -m pip --python /opt/venv/bin/python uninstall --yes pip

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=3000 \
    SNAPBOT_DB=/data/snapbot.db \
    SNAPBOT_ARCHIVE_DIR=/data/archives
COPY --from=build /opt/venv /opt/venv
# uid/gid 10001, no login, home on the volume; -l: no lastlog/faillog entry (a sparse file as
# large as the uid otherwise). /data is the bot's only writable state: owner only (0700).
RUN useradd --no-log-init --uid 10001 --user-group --no-create-home --home-dir /data \
        --shell /usr/sbin/nologin snapbot \
    && mkdir -p /data/archives \
    && chown -R 10001:10001 /data \
    && chmod 0700 /data /data/archives

# The database and the snapshot archives live on the volume: keep it across restarts (jobs resume
# from the store) and size it for the archives you keep (SNAPBOT_KEEP_ARCHIVED).
VOLUME /data
WORKDIR /data
USER 10001:10001
EXPOSE 3000

# slim has no curl: probe /healthz with Python's standard library, on the port snapbot listens on.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '3000'), timeout=4).status == 200 else 1)"]

# Exec form: snapbot is PID 1 and gets SIGTERM from `docker stop` (it stops cleanly, exit 0).
CMD ["snapbot", "run"]
