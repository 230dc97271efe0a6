# Strata node image: a static binary (pure-Go SQLite, no cgo) on a minimal base.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /strata ./server

FROM gcr.io/distroless/static-debian12
COPY --from=build /strata /strata
ENV STRATA_HTTP=0.0.0.0:8080 STRATA_DATA_DIR=/data
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/strata"]
