package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"dealflow/internal/config"
)

// serveOwnListener serves h on a listener of its own at addr (the
// variable v sets it), beside the API: the codec server and the metrics. It
// returns once the listener is open; the returned function stops it,
// letting requests in flight finish for up to grace.
func serveOwnListener(ctx context.Context, v config.Var, addr string, h http.Handler, grace time.Duration,
	log *slog.Logger, what string, attrs ...any) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (%s): %w", addr, v.Name, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info(what+" listening", append([]any{"addr", ln.Addr().String()}, attrs...)...)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what, "error", err)
		}
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
