# One image, two commands: /app/worker and /app/api (docker-compose.yml picks
# one per service). Pure Go (pgx, no cgo), so the runtime is distroless.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./worker ./api

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/worker /out/api /app/
USER nonroot:nonroot
EXPOSE 8080 9090 9091
CMD ["/app/api"]
