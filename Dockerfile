# syntax=docker/dockerfile:1
# The jobmatch-operator image: `docker build -t jobmatch-operator:0.1.0 .` (or `podman build`, `buildah bud`).
# Runs the controller by default (`run`: in-cluster config, all namespaces); any other command works too,
# e.g. `docker run --rm jobmatch-operator:0.1.0 --version`.
#
# Both bases are pinned by digest (multi-architecture indexes: amd64 and arm64), so a rebuild of a release gets the
# same bases; bump them together (e.g. with Renovate or Dependabot) and say so in CHANGELOG.md. Both are build
# arguments, so the image can be built from a mirror: --build-arg BASE_IMAGE=<mirror>/node@sha256:… .
# The runtime base only needs a Node 24 at /nodejs/bin/node (distroless) or on the PATH (node:24-*-slim): no shell.
# `npm run release` builds it with buildah, passes VERSION and REVISION, and archives it (release/<version>/).
ARG BASE_IMAGE=node:24-bookworm-slim@sha256:3638d9a6fe4030bd716be989438248074489337ba3275657f93595428be4fc03
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a

# --- build: compile and bundle with the dev dependencies, then drop them ---------------------------------------
FROM ${BASE_IMAGE} AS build
WORKDIR /src
# The lockfile first, so the dependency layer is reused while only sources change.
COPY package.json package-lock.json ./
# --ignore-scripts: the project's `prepare` script (the build) would run here, before the sources are copied, and
# the dev dependency `node` (the Node 24 binary the npm scripts use on a workstation) would download a second Node
# through its install script; this stage already runs on the base image's Node 24. No other dependency needs its
# install script: esbuild finds its platform binary in its optional dependency, protobufjs's only checks versions.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/ scripts/
COPY src/ src/
COPY bin/ bin/
COPY crds/ crds/
COPY manifests/examples/ manifests/examples/
# tsc → dist/, then the esbuild bundle bin/jobmatch-operator.js loads (dist/bundle/), then dist/build-info.json with
# the commit `--version` prints (there is no .git here: it comes in as REVISION).
ARG REVISION=unknown
RUN JOBMATCH_REVISION="${REVISION}" npm run build
# Production dependencies only (`npm ci --omit=dev` up front would have no tsc or esbuild to build with).
# Type declarations and source maps of the dependencies are never loaded at run time: about 140 MB
# (@google-cloud/compute's protos.d.ts alone is 32 MB).
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && node -e "const fs = require('node:fs'); for (const f of fs.readdirSync('node_modules', { recursive: true })) if (/\.(d\.[cm]?ts|map)$/.test(f)) fs.rmSync('node_modules/' + f, { force: true });"

# --- runtime: Node 24 and the built package, nothing else -------------------------------------------------------
FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="jobmatch-operator" \
      org.opencontainers.image.description="Keeps each JobMatch environment (GCS, BigQuery, Secret Manager, IAM, VM, app config) exactly as declared" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/jobmatch/jobmatch-operator" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
WORKDIR /app
# distroless keeps node at /nodejs/bin/node, the official node images at /usr/local/bin/node: either is found.
ENV PATH=/nodejs/bin:/usr/local/bin:/usr/bin:/bin
# A young generation of 16 MB (two 8 MB semi-spaces): V8 would grow it to 128 MB on a node with plenty of memory,
# whatever the pod's limit. Measured with npm run bench:controller, which runs the operator with these flags.
ENV NODE_OPTIONS="--max-semi-space-size=8"
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/crds ./crds
# `demo` reads the seed's staging example from here.
COPY --from=build /src/manifests/examples ./manifests/examples
# Files stay root-owned and read-only to the process; it writes only to /tmp (Node's compile cache).
USER 65532:65532
# /healthz, /readyz, /metrics, /status
EXPOSE 8080
ENTRYPOINT ["node", "/app/bin/jobmatch-operator.js"]
CMD ["run"]
