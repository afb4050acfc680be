package config

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Probe is the `healthcheck` subcommand of a binary whose image has no
// shell or curl (distroless): it GETs path on the binary's own listen
// address addr (":9090" is asked on 127.0.0.1) and returns nil on 200,
// else one line with the status and the answer's first line.
func Probe(ctx context.Context, v Var, addr, path string) error {
	if addr == "" {
		return fmt.Errorf("%s is empty: nothing serves %s", v.Name, path)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: want host:port, got %q", v.Name, addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + path
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		first, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, first)
	}
	return nil
}
