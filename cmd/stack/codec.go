package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"dealflow/internal/codec"
	"dealflow/internal/config"
)

// codecFileName is the file in the data folder that keeps the dev stack's
// payload key and codec token, so that the deals of one run still decrypt
// on the next: shell syntax, so `set -a; . .dev/codec.env; set +a` gives a
// shell (the history recorder, a starter) the same keys.
const codecFileName = "codec.env"

// codecSetup is how the stack encrypts payloads and lets the Web UI read
// them.
type codecSetup struct {
	// env are the DEALFLOW_CODEC_* variables of the worker and the API.
	env map[string]string
	// keyID is the id of the key that encrypts; source says where the keys
	// came from, for the summary.
	keyID, source string
	// url is the codec server's address (for the CLI, with the token as a
	// bearer); uiEndpoint the Web UI's codec endpoint, with the token in its
	// path (codec.TokenPathPrefix); both "" without a codec server.
	url, uiEndpoint string
	// file is the keys file in the data folder.
	file string
}

// prepareCodec decides the stack's keys: those of the environment
// (DEALFLOW_CODEC_KEY_ID, DEALFLOW_CODEC_KEY, DEALFLOW_CODEC_OLD_KEYS,
// DEALFLOW_CODEC_TOKEN) when DEALFLOW_CODEC_KEY is set, else the dev key of
// the data folder's codec.env, made on the first run. A dev key that the
// environment's keys replace stays among the old keys, so the deals it
// encrypted still read. The codec server listens on codecAddr ("" for
// none) for the UI at uiPort.
func prepareCodec(data, codecAddr string, uiPort int) (codecSetup, error) {
	cs := codecSetup{file: filepath.Join(data, codecFileName)}
	saved, err := readEnvFile(cs.file)
	if err != nil {
		return cs, err
	}
	env := map[string]string{}
	if key := strings.TrimSpace(os.Getenv(config.CodecKey.Name)); key != "" {
		for _, v := range []config.Var{config.CodecKeyID, config.CodecKey, config.CodecOldKeys, config.CodecToken} {
			if s := strings.TrimSpace(os.Getenv(v.Name)); s != "" {
				env[v.Name] = s
			}
		}
		cs.source = config.CodecKey.Name + " (environment)"
		if id, k := saved[config.CodecKeyID.Name], saved[config.CodecKey.Name]; id != "" && k != "" &&
			id != env[config.CodecKeyID.Name] && !strings.Contains(env[config.CodecOldKeys.Name], id+":") {
			env[config.CodecOldKeys.Name] = strings.Trim(env[config.CodecOldKeys.Name]+","+id+":"+k, ",")
			cs.source += "; the dev key " + id + " of " + codecFileName + " decrypts only"
		}
		if env[config.CodecToken.Name] == "" {
			env[config.CodecToken.Name] = saved[config.CodecToken.Name]
		}
	} else {
		env = saved
		cs.source = cs.file
		if env[config.CodecKey.Name] == "" {
			env = newDevKeys()
			if err := writeEnvFile(cs.file, env); err != nil {
				return cs, err
			}
			cs.source = cs.file + " (made now)"
		}
	}
	if env[config.CodecToken.Name] == "" {
		env[config.CodecToken.Name] = randomHex(24)
	}
	// Check now, with the binaries' own rules, rather than have both fail.
	check := config.NewReaderFrom(mergeEnv(env, map[string]string{config.TemporalConfigFile.Name: os.DevNull}))
	keys := check.Temporal().Encryption
	check.CodecServer(keys, "")
	if err := check.Err(); err != nil {
		return cs, fmt.Errorf("payload keys (%s): %v", cs.source, err)
	}
	cs.keyID = keys.CurrentKeyID()
	if codecAddr != "" {
		host, port, err := net.SplitHostPort(codecAddr)
		if err != nil {
			return cs, fmt.Errorf("-codec-addr: %w", err)
		}
		if host == "" || host == "127.0.0.1" || host == "0.0.0.0" || host == "::" {
			host = "localhost"
		}
		cs.url = "http://" + net.JoinHostPort(host, port)
		cs.uiEndpoint = cs.url + strings.TrimSuffix(codec.TokenPathPrefix, "/") + "/" + env[config.CodecToken.Name]
		env[config.CodecAddr.Name] = codecAddr
		// The UI is opened as localhost or 127.0.0.1.
		env[config.CodecOrigins.Name] = "http://localhost:" + strconv.Itoa(uiPort) + ",http://127.0.0.1:" + strconv.Itoa(uiPort)
	}
	cs.env = env
	return cs, nil
}

// newDevKeys makes a key, its id and a codec token.
func newDevKeys() map[string]string {
	key := make([]byte, codec.KeySize)
	_, _ = rand.Read(key)
	return map[string]string{
		config.CodecKeyID.Name: "dev-" + time.Now().UTC().Format("20060102-150405"),
		config.CodecKey.Name:   base64.StdEncoding.EncodeToString(key),
		config.CodecToken.Name: randomHex(24),
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func mergeEnv(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// readEnvFile reads NAME=VALUE lines (comments and blank lines skipped); a
// missing file is empty.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want NAME=VALUE", path, n)
		}
		out[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `'"`)
	}
	return out, sc.Err()
}

// writeEnvFile writes the keys file, readable by its owner only.
func writeEnvFile(path string, env map[string]string) error {
	var b strings.Builder
	b.WriteString("# The dev stack's payload key and codec token (cmd/stack), made on its first run and\n")
	b.WriteString("# reused after: deals stored in .dev/temporal.db are encrypted with this key. Load it\n")
	b.WriteString("# into a shell with: set -a; . .dev/codec.env; set +a\n")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "%s=%s\n", k, env[k])
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}
