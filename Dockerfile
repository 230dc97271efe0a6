# Strata node image: a static binary (pure-Go SQLite, no cgo) on a minimal base, run as
# an unprivileged user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /strata ./server && mkdir /data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /strata /strata
# The data directory belongs to the image's non-root user (uid 65532).
COPY --from=build --chown=65532:65532 /data /data
USER 65532:65532
ENV STRATA_HTTP=0.0.0.0:8080 STRATA_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
# The base has no shell or curl: the binary checks its own readiness.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=5 CMD ["/strata", "healthcheck"]
ENTRYPOINT ["/strata"]
