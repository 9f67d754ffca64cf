# The image every rule runs in under `snakemake --use-singularity` (or `--use-apptainer`).
# It carries the software only: the workflow, the config and the data stay on the host and are
# bound in at run time. Build:  docker build -t nowrongturns:0.1.0 .
#
# BASE: any Debian/Ubuntu image. The default is the official PyTorch image of the torch version
# pyproject.toml pins (CUDA 13 runtime, cuDNN 9), so GPU nodes need only a driver; a bare base
# (e.g. debian:bookworm-slim) gets Python from apt and torch from pip.
ARG BASE=pytorch/pytorch:2.14.1-cuda13.0-cudnn9-runtime
FROM ${BASE}

# PEM text of extra CA certificates, for builds behind an intercepting proxy. Empty by default;
# pass it at build time (--build-arg EXTRA_CA_CERTS="$(cat proxy-ca.pem)"), never commit one.
ARG EXTRA_CA_CERTS=""
# Extra wheel locations for pip (--find-links), e.g. a wheelhouse served on loopback to a build
# run with --network host. Empty by default: everything comes from the package index.
ARG PIP_FIND_LINKS=""

USER root
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg

# Python, venv and CA tooling where the base lacks them (the PyTorch image has all three), and a C
# compiler with Python's headers: on a GPU, Triton (the per-step sums' kernel) builds its small
# launcher with them once per machine.
RUN set -eu; pkgs=""; \
    command -v python3 >/dev/null || pkgs="python3 python3-venv"; \
    python3 -c 'import venv, ensurepip' 2>/dev/null || pkgs="$pkgs python3-venv"; \
    command -v update-ca-certificates >/dev/null || pkgs="$pkgs ca-certificates"; \
    command -v gcc >/dev/null || pkgs="$pkgs gcc libc6-dev"; \
    python3 -c 'import os, sysconfig; assert os.path.exists(sysconfig.get_paths()["include"] + "/Python.h")' \
        2>/dev/null || pkgs="$pkgs python3-dev"; \
    if [ -n "$pkgs" ]; then \
        apt-get update && apt-get install -y --no-install-recommends $pkgs && rm -rf /var/lib/apt/lists/*; \
    fi; \
    if [ -n "$EXTRA_CA_CERTS" ]; then \
        printf '%s\n' "$EXTRA_CA_CERTS" > /usr/local/share/ca-certificates/build-extra.crt; \
        update-ca-certificates; \
    fi

# Rules run as whoever starts them (apptainer maps the host user); `docker run` gets a non-root user.
RUN useradd --create-home --shell /bin/bash nwt

# One virtual environment that sees the base's own packages, so the PyTorch image's torch is used
# as is (pip keeps it: it satisfies the pin) and a bare base gets it installed here, with the model zoo
# extras (timm, hf). Versions:
# envs/constraints.txt, the same as envs/nowrongturns.yaml.
COPY pyproject.toml README.md envs/constraints.txt /src/
COPY nowrongturns /src/nowrongturns
RUN set -eu; \
    python3 -m venv --system-site-packages /opt/nowrongturns; \
    if [ -n "$EXTRA_CA_CERTS" ]; then export PIP_CERT=/etc/ssl/certs/ca-certificates.crt; fi; \
    if [ -n "$PIP_FIND_LINKS" ]; then export PIP_FIND_LINKS; fi; \
    /opt/nowrongturns/bin/pip install -c /src/constraints.txt "/src[timm,hf]"; \
    rm -rf /src; \
    /opt/nowrongturns/bin/python -c 'import torch, torchvision, timm, transformers, datasets, snakemake, nowrongturns; print("torch", torch.__version__, "cuda", torch.version.cuda)'

ENV PATH=/opt/nowrongturns/bin:$PATH
USER nwt
WORKDIR /home/nwt
CMD ["nowrongturns", "--help"]
