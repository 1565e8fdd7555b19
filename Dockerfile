# Bazaar: a static binary on an empty image.

FROM golang:1.27.3-bookworm AS build
WORKDIR /src
# Dependencies first, so that code changes reuse the module download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/bazaar ./cmd/bazaar

FROM scratch
# Bazaar talks to PostgreSQL without TLS inside the compose network and makes
# no outbound HTTPS calls, so the image carries no CA certificates.
COPY --from=build /out/bazaar /bazaar
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/bazaar"]
CMD ["serve"]
