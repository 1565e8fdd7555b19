# Bazaar: a static binary on an empty image.

FROM golang:1.27.3-bookworm AS build
WORKDIR /src
# Dependencies first, so that code changes reuse the module download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /out/bazaar ./cmd/bazaar
# The photo directory (BAZAAR_PHOTO_DIR in compose), owned by the app's
# user: an empty volume mounted on it takes this owner (docker-compose.yml).
RUN mkdir -p /out/photos && chmod 0755 /out/photos

FROM scratch
# Bazaar talks to PostgreSQL without TLS inside the compose network and makes
# no outbound HTTPS calls, so the image carries no CA certificates.
COPY --from=build /out/bazaar /bazaar
COPY --from=build --chown=65532:65532 /out/photos /var/lib/bazaar/photos
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/bazaar"]
CMD ["serve"]
