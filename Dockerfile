# syntax=docker/dockerfile:1
#
# fleetsim container image.
#
# The image has no Java, so it cannot start the embedded Apache Kafka that `npm start` uses
# on a developer machine: set KAFKA_BROKERS (host:port[,host:port…]) to a running cluster,
# e.g. `docker compose up` (see docker-compose.yml) or the Helm chart's kafka.brokers.
# Without it the server exits at start (code 3) with a message saying that Java is missing.

# The base image. For builds that cannot change under you, pin it by digest: look the digest
# up where you can reach the registry,
#   docker buildx imagetools inspect node:24-bookworm-slim --format '{{json .Manifest.Digest}}'
# and build with --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:<digest> (or write it here).
# The repository does not carry one: it was written without access to a Docker registry, and an
# invented digest would only break the build.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- build: all dependencies, compile TypeScript to dist/ ---------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
# Unit specs and test fakes are not in the build context (.dockerignore); fail if any slipped in.
RUN npm run build \
 && if find dist/src -name '*.spec.js' -o -name 'fake.*.js' | grep .; then \
      echo 'test-only code in dist/src: see .dockerignore' >&2; exit 1; \
    fi

# --- runtime: production dependencies and the compiled server only ------------------------
FROM ${NODE_IMAGE} AS runtime
WORKDIR /app
ENV NODE_ENV=production \
    npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false \
    HOST=0.0.0.0 \
    PORT=3000
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force
COPY --from=build /app/dist/src ./dist/src
# The schemas kafka.schemaRegistry registers (docs/schema-registry.md).
COPY docs/reading.schema.json ./docs/
COPY proto/reading.proto ./proto/

# The node image's unprivileged user, by number so that Kubernetes' runAsNonRoot can
# verify it.
USER 1000:1000
EXPOSE 3000

# No curl in slim images: probe liveness with Node's built-in fetch.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# V8's heap (docs/faults.md, "Where the soak's memory goes"): at tens of thousands of readings
# a second V8 grows its young generation to 128 MB on Node 24 (8 MB semi-spaces: 16 MB), and
# on a host with much memory it lets the old space fill with garbage up to about 4x its live
# size between full collections; a 512 MB old-space limit (what Node picks by itself in the
# chart's 2 GiB container) keeps that slack small. Together they cut a 50,000 msg/s run's RSS
# from ~320 to ~200 MB, and a 10-minute soak with a 2-minute outage peaked at 259 MB (290 MB
# with 16 MB semi-spaces). A bigger simulation (limits.maxDevices, producer.bufferMemory) needs
# a bigger --max-old-space-size: set NODE_OPTIONS (docs/security.md).
ENV NODE_OPTIONS="--max-semi-space-size=8 --max-old-space-size=512"

# node is PID 1 and handles SIGTERM itself: it stops the scheduler and flushes the producer.
# --no-allocation-site-pretenuring, as npm start: V8 would otherwise move the allocation of the
# short-lived per-reading objects to the old generation for good after a moment of backpressure,
# and full collections follow every second or so under load (src/runtime/node.flags.ts).
STOPSIGNAL SIGTERM
CMD ["node", "--no-allocation-site-pretenuring", "dist/src/main.js"]
