# The ctxi image: the stream worker by default (`ctxi worker`); other commands by argument.
# BASE_IMAGE: any Debian-like image with Python 3.11+ and venv; where python:3.11-slim cannot be
# pulled, scripts/container-images builds one from Debian's packages (as CI does).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/ctxi/bin:$PATH
WORKDIR /app
# one layer for the source (.dockerignore leaves out tests, docs and local state)
COPY . .
RUN python3 -m venv /opt/ctxi \
    && pip install -q -c constraints.txt . \
    && useradd --create-home ctxi && mkdir -p /var/lib/ctxi && chown ctxi /var/lib/ctxi
USER ctxi
ENV CTXI_DATA_DIR=/var/lib/ctxi
EXPOSE 6066 8080 9108
ENTRYPOINT ["ctxi"]
CMD ["worker"]
