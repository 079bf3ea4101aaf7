# The runner, its runtime libraries and experiments.toml on Debian 12, the
# image 'runner sweep --emit k8s' runs (see README.md, Scale-out). Build it
# from the repository's root:
#
#   docker build -t speedrun:latest --build-arg GIT_REV=$(git rev-parse HEAD) .
#
# Build arguments:
#   GIT_REV, GIT_DIRTY  the revision every run records (git is not in the
#                       build context);
#   FETCH_CIFAR=1       downloads CIFAR-10 into the image (170 MB, checked
#                       against its MD5) at $SPEEDRUN_DATA; with 0 the runs
#                       train on the synthetic set unless a volume puts the
#                       data there, and say so in their dataset column;
#   CUDA=1              adds cuBLAS, cuDNN 9 and NVRTC (NVIDIA's pip wheels)
#                       for --backend cuda; the driver comes from the node
#                       (the NVIDIA container runtime mounts libcuda).

FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libopenblas-dev libdnnl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG GIT_REV=unknown
ARG GIT_DIRTY=false
RUN go build -trimpath -buildvcs=false \
      -ldflags "-X main.gitRevision=${GIT_REV} -X main.gitDirty=${GIT_DIRTY}" \
      -o /out/runner ./cmd/runner

FROM debian:bookworm-slim
ARG FETCH_CIFAR=1
ARG CUDA=0
# libopenblas0-pthread and libdnnl2 are what the binary links (ldd
# bin/runner); libdnnl2 brings libgomp1 and the OpenCL loader.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopenblas0-pthread libdnnl2 ca-certificates \
 && if [ "$CUDA" = 1 ]; then apt-get install -y --no-install-recommends python3-pip; fi \
 && rm -rf /var/lib/apt/lists/*
RUN if [ "$CUDA" = 1 ]; then \
      pip3 install --break-system-packages --no-cache-dir \
        nvidia-cublas-cu12 'nvidia-cudnn-cu12>=9,<10' nvidia-cuda-nvrtc-cu12; \
    fi
# cuDNN loads its sub-libraries, cuBLASLt and NVRTC itself: the loader must
# see the wheels' folders (absent without CUDA=1, which is harmless).
ENV LD_LIBRARY_PATH=/usr/local/lib/python3.11/dist-packages/nvidia/cublas/lib:/usr/local/lib/python3.11/dist-packages/nvidia/cudnn/lib:/usr/local/lib/python3.11/dist-packages/nvidia/cuda_nvrtc/lib
ENV SPEEDRUN_DATA=/data/cifar-10-batches-bin
COPY --from=build /out/runner /usr/local/bin/runner
WORKDIR /speedrun
COPY experiments.toml /speedrun/experiments.toml
RUN if [ "$FETCH_CIFAR" = 1 ]; then runner data fetch --dir "$SPEEDRUN_DATA"; fi
# Smoke-test the binary and its libraries in the image itself.
RUN runner list --stage 8 >/dev/null
ENTRYPOINT ["runner"]
CMD ["help"]
