package codec

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func key(id string, b byte) Key { return Key{ID: id, Secret: bytes.Repeat([]byte{b}, KeySize)} }

func keyring(t *testing.T, current *Key, old ...Key) *Keyring {
	t.Helper()
	k, err := NewKeyring(current, old...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ptr[T any](v T) *T { return &v }

type lead struct {
	FirstName, Email string
	Budget           string
}

var ada = lead{FirstName: "Ada", Email: "ada@example.com", Budget: "87654.32"}

func encode(t *testing.T, dc converter.DataConverter, v any) *commonpb.Payload {
	t.Helper()
	p, err := dc.ToPayload(v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRoundTrip(t *testing.T) {
	k := keyring(t, ptr(key("k1", 1)))
	dc := DataConverter(k)
	for _, v := range []any{ada, "plain string", []byte{0, 1, 2}, nil, 42} {
		p := encode(t, dc, v)
		if !Encrypted(p) || string(p.Metadata[MetadataKeyID]) != "k1" || string(p.Metadata[MetadataCipher]) != Cipher {
			t.Fatalf("%v: payload metadata %v, want encrypted with k1", v, p.Metadata)
		}
		raw, _ := proto.Marshal(p)
		for _, s := range []string{"Ada", "ada@example.com", "87654.32", "plain string", "json/plain"} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("%v: the encrypted payload contains %q", v, s)
			}
		}
		dec, err := k.Decode([]*commonpb.Payload{p})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := converter.GetDefaultDataConverter().ToPayload(v)
		if !proto.Equal(dec[0], want) {
			t.Errorf("%v: decoded %v, want the default converter's %v", v, dec[0], want)
		}
	}
	var got lead
	if err := dc.FromPayload(encode(t, dc, ada), &got); err != nil || got != ada {
		t.Fatalf("FromPayload = %+v, %v", got, err)
	}
	// Two encryptions of one value differ (a fresh nonce each time).
	if a, b := encode(t, dc, ada), encode(t, dc, ada); bytes.Equal(a.Data, b.Data) {
		t.Error("two encryptions of the same value are identical")
	}
}

func TestRotation(t *testing.T) {
	k1, k2 := key("2026-06", 1), key("2026-12", 2)
	before := keyring(t, &k1)
	after := keyring(t, &k2, k1) // rotated: k2 encrypts, k1 only decrypts
	oldPayload := encode(t, DataConverter(before), ada)
	newPayload := encode(t, DataConverter(after), ada)

	if id := string(newPayload.Metadata[MetadataKeyID]); id != k2.ID {
		t.Errorf("after rotation, new payloads are encrypted with %q, want %q", id, k2.ID)
	}
	for name, p := range map[string]*commonpb.Payload{"old": oldPayload, "new": newPayload} {
		var got lead
		if err := DataConverter(after).FromPayload(p, &got); err != nil || got != ada {
			t.Errorf("the rotated keyring reads the %s payload as %+v, %v", name, got, err)
		}
	}

	// A process that lost the old key says which key is missing.
	_, err := keyring(t, &k2).Decode([]*commonpb.Payload{oldPayload})
	var unknown *UnknownKeyError
	if !errors.As(err, &unknown) || unknown.ID != k1.ID {
		t.Fatalf("decode with an unknown key id: %v, want an UnknownKeyError for %s", err, k1.ID)
	}
	for _, want := range []string{`"2026-06"`, "not configured", "2026-12", "DEALFLOW_CODEC_OLD_KEYS"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}

	// Decrypt only: no current key, payloads go out as they are.
	ro := keyring(t, nil, k1)
	if ro.CurrentKeyID() != "" {
		t.Fatal("a keyring without a current key encrypts")
	}
	plain := encode(t, DataConverter(ro), ada)
	if Encrypted(plain) {
		t.Error("a decrypt-only keyring encrypted")
	}
	var got lead
	if err := DataConverter(ro).FromPayload(oldPayload, &got); err != nil || got != ada {
		t.Errorf("the decrypt-only keyring reads the old payload as %+v, %v", got, err)
	}
}

func TestTampered(t *testing.T) {
	k := keyring(t, ptr(key("k1", 1)))
	good := encode(t, DataConverter(k), ada)
	flip := func(mod func(p *commonpb.Payload)) *commonpb.Payload {
		p := proto.Clone(good).(*commonpb.Payload)
		mod(p)
		return p
	}
	cases := map[string]*commonpb.Payload{
		"a ciphertext bit":     flip(func(p *commonpb.Payload) { p.Data[len(p.Data)/2] ^= 1 }),
		"the nonce":            flip(func(p *commonpb.Payload) { p.Data[0] ^= 1 }),
		"the tag":              flip(func(p *commonpb.Payload) { p.Data[len(p.Data)-1] ^= 1 }),
		"truncated":            flip(func(p *commonpb.Payload) { p.Data = p.Data[:10] }),
		"another key's id":     flip(func(p *commonpb.Payload) { p.Metadata[MetadataKeyID] = []byte("k2") }),
		"another key, same id": flip(func(p *commonpb.Payload) {}),
	}
	other := keyring(t, ptr(key("k1", 9)), key("k2", 1)) // k2 has k1's bytes: only the id differs
	for name, p := range cases {
		dec := k
		if name == "another key, same id" || name == "another key's id" {
			dec = other
		}
		_, err := dec.Decode([]*commonpb.Payload{p})
		if !errors.Is(err, ErrTampered) {
			t.Errorf("%s: Decode = %v, want ErrTampered", name, err)
		}
	}
	if _, err := k.Decode([]*commonpb.Payload{flip(func(p *commonpb.Payload) { p.Metadata[MetadataCipher] = []byte("ROT13") })}); err == nil {
		t.Error("a payload naming another cipher was decoded")
	}
	if _, err := k.Decode([]*commonpb.Payload{flip(func(p *commonpb.Payload) { delete(p.Metadata, MetadataKeyID) })}); err == nil {
		t.Error("a payload without a key id was decoded")
	}
}

func TestUnencryptedPassesThrough(t *testing.T) {
	k := keyring(t, ptr(key("k1", 1)))
	plain := []*commonpb.Payload{
		encode(t, converter.GetDefaultDataConverter(), ada),
		encode(t, converter.GetDefaultDataConverter(), nil),
		{Metadata: map[string][]byte{"encoding": []byte("binary/zlib")}, Data: []byte{1, 2, 3}},
		{},
	}
	out, err := k.Decode(plain)
	if err != nil {
		t.Fatal(err)
	}
	for i := range plain {
		if !proto.Equal(out[i], plain[i]) {
			t.Errorf("payload %d changed: %v → %v", i, plain[i], out[i])
		}
	}
	var got lead
	if err := DataConverter(k).FromPayload(plain[0], &got); err != nil || got != ada {
		t.Errorf("a plain payload reads as %+v, %v", got, err)
	}
}

// TestRecordedHistoriesPassThrough: every history recorded before
// encryption decodes to itself, so the replay tests and the Web UI read them
// as before.
func TestRecordedHistoriesPassThrough(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "workflows", "testdata", "histories", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	k := keyring(t, ptr(key("k1", 1)))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var h historypb.History
		if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		before := proto.Clone(&h)
		if err := DecodeHistory(context.Background(), k, &h); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !proto.Equal(before, &h) {
			t.Errorf("%s: decoding changed the history", filepath.Base(f))
		}
	}
}

// TestDecodeHistory: a history's payloads are decrypted in place, its
// search attributes left alone.
func TestDecodeHistory(t *testing.T) {
	k := keyring(t, ptr(key("k1", 1)))
	dc := DataConverter(k)
	input, err := dc.ToPayloads(ada)
	if err != nil {
		t.Fatal(err)
	}
	sa := encode(t, converter.GetDefaultDataConverter(), "Analytical Engines")
	h := &historypb.History{Events: []*historypb.HistoryEvent{{
		Attributes: &historypb.HistoryEvent_WorkflowExecutionStartedEventAttributes{
			WorkflowExecutionStartedEventAttributes: &historypb.WorkflowExecutionStartedEventAttributes{
				Input:            input,
				SearchAttributes: &commonpb.SearchAttributes{IndexedFields: map[string]*commonpb.Payload{"Customer": sa}},
			},
		},
	}}}
	if n, err := EncryptedPayloads(context.Background(), h); err != nil || n != 1 {
		t.Fatalf("EncryptedPayloads = %d, %v; want 1", n, err)
	}
	if err := DecodeHistory(context.Background(), k, h); err != nil {
		t.Fatal(err)
	}
	attrs := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
	var got lead
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.Input, &got); err != nil || got != ada {
		t.Errorf("decoded input %+v, %v", got, err)
	}
	if !proto.Equal(attrs.SearchAttributes.IndexedFields["Customer"], sa) {
		t.Error("the search attribute changed")
	}
	if n, _ := EncryptedPayloads(context.Background(), h); n != 0 {
		t.Errorf("%d payloads still encrypted", n)
	}
}

// TestFailureMessagesEncrypted: an error's message goes into an encrypted
// attribute, and any client with the key reads it back.
func TestFailureMessagesEncrypted(t *testing.T) {
	k := keyring(t, ptr(key("k1", 1)))
	fc := FailureConverter(DataConverter(k))
	f := fc.ErrorToFailure(temporal.NewApplicationError("no budget for ada@example.com", "Gate"))
	raw, _ := proto.Marshal(f)
	if bytes.Contains(raw, []byte("ada@example.com")) {
		t.Fatalf("the failure carries the message in clear: %v", f)
	}
	if !Encrypted(f.GetEncodedAttributes()) {
		t.Fatalf("encoded attributes not encrypted: %v", f.GetEncodedAttributes())
	}
	err := fc.FailureToError(f)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) || !strings.Contains(app.Error(), "no budget for ada@example.com") || app.Type() != "Gate" {
		t.Fatalf("FailureToError = %v", err)
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	k1 := key("k1", 1)
	for name, c := range map[string]struct {
		current *Key
		old     []Key
		want    string
	}{
		"no keys":      {nil, nil, "no keys"},
		"short key":    {&Key{ID: "k1", Secret: make([]byte, 16)}, nil, "16 bytes, want 32"},
		"duplicate id": {&k1, []Key{key("k1", 2)}, "twice"},
		"empty id":     {&Key{ID: "", Secret: k1.Secret}, nil, "1 to 64"},
		"id with ':'":  {&Key{ID: "a:b", Secret: k1.Secret}, nil, "letters, digits"},
	} {
		_, err := NewKeyring(c.current, c.old...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
}

func TestString(t *testing.T) {
	var none *Keyring
	k1, k2 := key("k1", 1), key("k2", 2)
	for _, c := range []struct {
		k    *Keyring
		want string
	}{
		{none, "off"},
		{keyring(t, &k1), "AES-256-GCM, key k1"},
		{keyring(t, &k2, k1), "AES-256-GCM, key k2; older keys k1 decrypt only"},
		{keyring(t, nil, k1), "decrypt only (AES-256-GCM, keys k1); new payloads are stored in plain text"},
	} {
		if got := c.k.String(); got != c.want {
			t.Errorf("String = %q, want %q", got, c.want)
		}
	}
}
