package main

import (
	"context"
	"log/slog"
	"time"

	"dealflow/internal/codec"
	"dealflow/internal/config"
)

// startCodecServer serves the codec server (internal/codec) on its own
// listener, DEALFLOW_CODEC_ADDR, when set: the Temporal Web UI and CLI
// decode the deals' payloads through it. It runs in the api because the api
// already holds the keys (it encrypts the deals it starts and decrypts the
// answers of queries), so no other process needs them; on a listener of its
// own because it serves other clients (managers' browsers on the UI's
// origin, the CLI) with other rules (one token, CORS) than the API, and can
// be left unpublished or turned off without touching the API. The returned
// function stops it, letting requests in flight finish.
func startCodecServer(ctx context.Context, s settings, log *slog.Logger) (stop func(), err error) {
	if s.codec.Addr == "" {
		return func() {}, nil
	}
	h, err := codec.NewServer(codec.ServerOptions{
		Keyring: s.temporal.Encryption, Token: s.codec.Token, Origins: s.codec.Origins, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return serveOwnListener(ctx, config.CodecAddr, s.codec.Addr, h, 10*time.Second, log, "codec server",
		"origins", s.codec.Origins, "encryption", s.temporal.Encryption.String())
}
