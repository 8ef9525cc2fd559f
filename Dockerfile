# Switchboard container image: `docker-compose up -d --build` builds and runs it with two sample apps (docs/deploy.md).
ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: dev dependencies, TypeScript compile, then drop dev dependencies -------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY examples ./examples
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# --- run: production dependencies and dist/ only ----------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    SWITCHBOARD_CONFIG=/etc/switchboard/routes.yaml \
    SWITCHBOARD_STATE_DIR=/var/lib/switchboard
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/examples ./dist/examples
COPY schema ./schema
COPY routes.yaml /etc/switchboard/routes.yaml
# The state directory (local CA, issued certificates) belongs to the unprivileged user; a volume keeps it.
RUN mkdir -p /var/lib/switchboard && chown node:node /var/lib/switchboard && chmod 700 /var/lib/switchboard
VOLUME ["/var/lib/switchboard"]
USER node
EXPOSE 80 443
# Node itself asks the admin API (no curl or wget in the image). The admin API listens on 127.0.0.1:9901 unless
# routes.yaml says otherwise; 127.0.0.1 reaches it either way from inside the container.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9901/readyz').then((r)=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form, no shell: SIGTERM goes straight to node, which drains and exits 0.
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["start", "-c", "/etc/switchboard/routes.yaml", "--state-dir", "/var/lib/switchboard"]
