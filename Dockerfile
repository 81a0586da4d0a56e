# The ctxi image: the stream worker by default (`ctxi worker`); other commands by argument.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY ctxi ctxi
COPY streams streams
COPY agents agents
COPY schemas schemas
COPY ingest ingest
COPY sinks sinks
COPY devstack devstack
COPY context context
COPY enrichers enrichers
COPY engine engine
COPY lookups lookups
COPY rule_language rule_language
COPY rules rules
COPY pack_tools pack_tools
COPY features features
COPY prioritize prioritize
COPY service_levels service_levels
COPY gateway gateway
COPY desktop desktop
COPY simulate simulate
COPY benchmarks benchmarks
RUN pip install -c constraints.txt . && useradd --create-home ctxi && mkdir -p /var/lib/ctxi && chown ctxi /var/lib/ctxi
USER ctxi
ENV CTXI_DATA_DIR=/var/lib/ctxi
EXPOSE 6066 8080
ENTRYPOINT ["ctxi"]
CMD ["worker"]
