# snapbot: the Slack app for Cloudify Manager backups.
#   docker build -t snapbot .
#   docker run -p 3000:3000 -v snapbot-data:/data -e SLACK_BOT_TOKEN=... -e SLACK_SIGNING_SECRET=... \
#     -e CLOUDIFY_URL=https://manager.example.com -e CLOUDIFY_PASSWORD=... snapbot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
RUN pip install . \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin snapbot \
    && mkdir -p /data/archives \
    && chown -R snapbot:snapbot /data

# The database and the snapshot archives live on the volume: keep it across restarts (jobs resume
# from the store) and size it for the archives you keep (SNAPBOT_KEEP_ARCHIVED).
ENV SNAPBOT_DB=/data/snapbot.db \
    SNAPBOT_ARCHIVE_DIR=/data/archives
VOLUME /data

USER snapbot
EXPOSE 3000

# slim has no curl: probe /healthz with Python's standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:3000/healthz', timeout=4).status == 200 else 1)"]

CMD ["snapbot", "run", "--port", "3000"]
