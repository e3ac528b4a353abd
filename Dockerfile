# syntax=docker/dockerfile:1
# Two stages: the compiler and dev dependencies stay in the first; the image that runs holds only
# dist/ and production dependencies, and runs as the unprivileged `node` user. Node 24 LTS, as in
# .nvmrc, the tests and CI.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: tsc needs none, and the `node` dev dependency's would fetch a second Node 24 (for
# machines whose own Node is older); the image has its own.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Files stay root-owned and read-only to the process: it writes nothing to disk.
USER node
EXPOSE 3000
# No curl in slim images: Node's own fetch. /healthz is "process alive"; readiness (Redis) is /readyz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself (src/server.ts drains and exits).
CMD ["node", "dist/server.js"]
