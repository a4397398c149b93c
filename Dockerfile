# dynip in a scratch image: the binary, the shared libraries it needs, one non-root user.
#   docker build -t dynip .
#   docker run --rm --network host -e CF_API_TOKEN -e INTERNAL_DOMAIN=... dynip
# The final filesystem is exactly what scripts/rootfs.sh writes, which the tests run under
# chroot without Docker (tests/ship-rootfs.test.ts). Building for linux/arm64 gives an
# arm64 image: the build stage compiles for the platform it runs on.

# Keep in step with devDependencies.bun in package.json (checked by a test).
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json bun.lock bunfig.toml ./
RUN bun install --frozen-lockfile
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN scripts/rootfs.sh /rootfs

FROM scratch
COPY --from=build /rootfs /
USER 65532:65532
ENTRYPOINT ["/dynip"]
# A container is long-lived: the updater with a pass every 5 minutes, SIGTERM to stop.
CMD ["update", "--interval", "300"]
