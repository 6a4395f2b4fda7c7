# seldon-py: the model server image, and a base for model images.
#
#   podman build -t seldon-py .            (docker build works the same)
#
# Use it as a base (user 8888, working directory /microservice):
#
#   FROM seldon-py
#   COPY --chown=8888:0 MyModel.py /microservice/
#   ENV MODEL_NAME=MyModel SERVICE_TYPE=MODEL
#
# or run it with the model mounted:
#   podman run -p 9000:9000 -v $PWD/examples/identity:/microservice:ro -e MODEL_NAME=IdentityModel seldon-py
#
# Extra Python packages: `USER root`, `RUN pip install --no-cache-dir -r requirements.txt`,
# `USER 8888` (pip installs into the image's virtualenv /opt/seldon, which root owns).
#
# Offline builds: put wheels for seldon-py and all its dependencies (setuptools and wheel
# included) in a folder of the build context and pass its path, e.g.
#   pip wheel --wheel-dir wheelhouse . setuptools wheel
#   podman build --build-arg WHEELHOUSE=wheelhouse -t seldon-py .
# pip then installs with --no-index from that folder only.

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG WHEELHOUSE=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/seldon
COPY . /src
RUN set -eu; \
    if [ -n "$WHEELHOUSE" ]; then \
      /opt/seldon/bin/pip install --no-cache-dir --no-index --find-links "/src/$WHEELHOUSE" /src; \
    else \
      /opt/seldon/bin/pip install --no-cache-dir /src; \
    fi; \
    /opt/seldon/bin/seldon-core-microservice --help >/dev/null

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="seldon-py" \
      org.opencontainers.image.description="Seldon Core 1.x compatible Python model server" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV VIRTUAL_ENV=/opt/seldon \
    PATH=/opt/seldon/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    APP_ROOT=/microservice \
    HOME=/microservice
COPY --from=build /opt/seldon /opt/seldon
COPY s2i/bin/ /s2i/bin/
# uid 8888 as in Seldon Core's images; group 0 and g=u so OpenShift's arbitrary uids work too
RUN set -eu; \
    (getent group 8888 >/dev/null || groupadd --gid 8888 seldon); \
    useradd --uid 8888 --gid 0 --groups 8888 --home-dir /microservice --no-create-home \
            --shell /usr/sbin/nologin seldon; \
    mkdir -p /microservice; \
    chown 8888:0 /microservice; \
    chmod 775 /microservice; \
    chmod 755 /s2i/bin/*
WORKDIR /microservice
USER 8888
EXPOSE 9000 5000 6000
# MODEL_NAME and SERVICE_TYPE are not set here, so that a model source's .s2i/environment (read by
# /s2i/bin/run when the image was built without the s2i binary) is not overridden by image defaults;
# `-e`/Kubernetes env win over that file. SERVICE_TYPE defaults to MODEL at run time.
# /s2i/bin/run checks MODEL_NAME, runs ./before-run if present, then
# `exec seldon-core-microservice "$MODEL_NAME" --service-type "$SERVICE_TYPE"`: the server
# replaces the shell and is PID 1, so SIGTERM reaches it directly (drain, then exit 0).
CMD ["/s2i/bin/run"]
