package main

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
)

func clearCodecEnv(t *testing.T) {
	for _, k := range []string{"DEALFLOW_CODEC_KEY_ID", "DEALFLOW_CODEC_KEY", "DEALFLOW_CODEC_OLD_KEYS", "DEALFLOW_CODEC_TOKEN"} {
		t.Setenv(k, "")
	}
}

// TestPrepareCodecDevKey: without a key in the environment, the first run
// makes one in the data folder and the next runs reuse it.
func TestPrepareCodecDevKey(t *testing.T) {
	clearCodecEnv(t)
	data := t.TempDir()
	first, err := prepareCodec(data, "127.0.0.1:8089", 8233)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first.keyID, "dev-") || !strings.Contains(first.source, "made now") {
		t.Errorf("first run: key %q from %q", first.keyID, first.source)
	}
	e := first.env
	if e["DEALFLOW_CODEC_ADDR"] != "127.0.0.1:8089" || e["DEALFLOW_CODEC_CORS_ORIGINS"] != "http://localhost:8233,http://127.0.0.1:8233" {
		t.Errorf("codec server env: %v", e)
	}
	if first.url != "http://localhost:8089" || first.uiEndpoint != "http://localhost:8089/t/"+e["DEALFLOW_CODEC_TOKEN"] {
		t.Errorf("url %q, UI endpoint %q", first.url, first.uiEndpoint)
	}
	again, err := prepareCodec(data, "127.0.0.1:8089", 8233)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"DEALFLOW_CODEC_KEY_ID", "DEALFLOW_CODEC_KEY", "DEALFLOW_CODEC_TOKEN"} {
		if again.env[k] != first.env[k] {
			t.Errorf("second run: %s changed", k)
		}
	}
	if strings.Contains(again.source, "made now") {
		t.Errorf("second run made a new key: %s", again.source)
	}

	// Without a codec server, the keys still encrypt.
	off, err := prepareCodec(data, "", 8233)
	if err != nil || off.url != "" || off.uiEndpoint != "" || off.env["DEALFLOW_CODEC_ADDR"] != "" || off.env["DEALFLOW_CODEC_KEY"] == "" {
		t.Errorf("-codec-addr '': %+v, %v", off, err)
	}
}

// TestPrepareCodecFromEnvironment: keys in the environment win, and the dev
// key of an earlier run stays to decrypt what it encrypted.
func TestPrepareCodecFromEnvironment(t *testing.T) {
	clearCodecEnv(t)
	data := t.TempDir()
	dev, err := prepareCodec(data, "127.0.0.1:8089", 8233)
	if err != nil {
		t.Fatal(err)
	}
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	t.Setenv("DEALFLOW_CODEC_KEY_ID", "prod-1")
	t.Setenv("DEALFLOW_CODEC_KEY", key)
	cs, err := prepareCodec(data, "127.0.0.1:8089", 8233)
	if err != nil {
		t.Fatal(err)
	}
	if cs.keyID != "prod-1" || cs.env["DEALFLOW_CODEC_KEY"] != key {
		t.Errorf("key %q", cs.keyID)
	}
	if want := dev.keyID + ":" + dev.env["DEALFLOW_CODEC_KEY"]; cs.env["DEALFLOW_CODEC_OLD_KEYS"] != want {
		t.Errorf("old keys %q, want the dev key %q", cs.env["DEALFLOW_CODEC_OLD_KEYS"], want)
	}
	if cs.env["DEALFLOW_CODEC_TOKEN"] != dev.env["DEALFLOW_CODEC_TOKEN"] {
		t.Error("the token changed")
	}

	// A bad key is the binaries' one-line error, before anything starts.
	t.Setenv("DEALFLOW_CODEC_KEY", "c2hvcnQ=")
	if _, err := prepareCodec(data, "127.0.0.1:8089", 8233); err == nil || !strings.Contains(err.Error(), "DEALFLOW_CODEC_KEY: is 5 bytes once base64-decoded, want 32") {
		t.Errorf("a short key: %v", err)
	}
}
