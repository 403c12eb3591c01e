# Image of the driver: the program that builds the cache, starts the cluster
# and collects forecasts.  Workers on YARN get a packed virtualenv instead.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /opt/forecasting
COPY setup.cfg pyproject.toml README.md ./
COPY forecasting ./forecasting
COPY deploy ./deploy
COPY specs ./specs
RUN pip install . && useradd --create-home forecaster

USER forecaster
WORKDIR /home/forecaster
ENTRYPOINT ["forecasting"]
CMD ["--help"]
