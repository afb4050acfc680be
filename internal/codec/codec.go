// Package codec encrypts the payloads dealflow stores in Temporal (workflow
// inputs and results, Update and Signal arguments, activity inputs and
// results, local-activity markers, the deal's summary and the messages of
// failures) with AES-256-GCM, so that whoever reads Temporal's database or
// its Web UI without the key sees no customer data.
//
// Keys rotate: one key (with its id) encrypts, and older keys, named by their
// ids, only decrypt. Every encrypted payload carries the id of its key in its
// metadata. Payloads without our encryption metadata (histories recorded
// before encryption, anything written by a client without the key) pass
// through Decode unchanged.
//
// Search attributes are not payloads a codec sees: they stay readable, and
// the Web UI filters on them.
package codec

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/proto"
)

// Metadata of an encrypted payload. The encoding is the name Temporal's own
// samples use, so tools that know it (the CLI, the Web UI) show such a
// payload as encrypted rather than as broken JSON.
const (
	// Encoding is the payload's "encoding" metadata once encrypted.
	Encoding = "binary/encrypted"
	// MetadataKeyID names the key that encrypted the payload.
	MetadataKeyID = "encryption-key-id"
	// MetadataCipher names the cipher; Cipher is the only one.
	MetadataCipher = "encryption-cipher"
	// Cipher is the value of MetadataCipher.
	Cipher = "AES-256-GCM"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

// Key is one AES-256 key and the id stored with what it encrypts.
type Key struct {
	ID     string
	Secret []byte
}

// Keyring encrypts with its current key and decrypts with any of its keys.
// It is a converter.PayloadCodec. Safe for concurrent use.
type Keyring struct {
	current string                 // id of the encrypting key; "" decrypts only
	aeads   map[string]cipher.AEAD // by key id
	ids     []string               // current first, then the old ones as given
}

// NewKeyring builds a keyring that encrypts with current (nil: none, it then
// only decrypts) and decrypts with current and old. Ids must be unique.
func NewKeyring(current *Key, old ...Key) (*Keyring, error) {
	k := &Keyring{aeads: map[string]cipher.AEAD{}}
	keys := old
	if current != nil {
		keys = append([]Key{*current}, old...)
		k.current = current.ID
	}
	if len(keys) == 0 {
		return nil, errors.New("codec: no keys")
	}
	for _, key := range keys {
		if err := CheckKeyID(key.ID); err != nil {
			return nil, err
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("codec: key id %q appears twice", key.ID)
		}
		if len(key.Secret) != KeySize {
			return nil, fmt.Errorf("codec: key %q has %d bytes, want %d (AES-256)", key.ID, len(key.Secret), KeySize)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("codec: key %q: %w", key.ID, err)
		}
		k.aeads[key.ID] = aead
		k.ids = append(k.ids, key.ID)
	}
	return k, nil
}

// CheckKeyID accepts 1 to 64 letters, digits, '.', '_' and '-': an id is
// written into every payload and into lists such as "id:key,id:key".
func CheckKeyID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("key id %q: want 1 to 64 characters", id)
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("key id %q: use only letters, digits, '.', '_' and '-'", id)
		}
	}
	return nil
}

// CurrentKeyID is the id of the key that encrypts, "" when the keyring only
// decrypts.
func (k *Keyring) CurrentKeyID() string { return k.current }

// KeyIDs lists the ids of every key, the current one first.
func (k *Keyring) KeyIDs() []string { return slices.Clone(k.ids) }

// String says how payloads are protected, for start-up logs; it never
// contains a key.
func (k *Keyring) String() string {
	if k == nil {
		return "off"
	}
	if k.current == "" {
		return fmt.Sprintf("decrypt only (%s, keys %s); new payloads are stored in plain text", Cipher, strings.Join(k.ids, ", "))
	}
	if len(k.ids) == 1 {
		return fmt.Sprintf("%s, key %s", Cipher, k.current)
	}
	return fmt.Sprintf("%s, key %s; older keys %s decrypt only", Cipher, k.current, strings.Join(k.ids[1:], ", "))
}

// Encode encrypts every payload with the current key: the whole payload
// (metadata and data) is sealed, so its original encoding is restored by
// Decode. Without a current key, payloads pass through.
func (k *Keyring) Encode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	if k.current == "" {
		return payloads, nil
	}
	aead := k.aeads[k.current]
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encrypt payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{
				converter.MetadataEncoding: []byte(Encoding),
				MetadataKeyID:              []byte(k.current),
				MetadataCipher:             []byte(Cipher),
			},
			Data: aead.Seal(nonce, nonce, plain, additionalData(k.current)),
		}
	}
	return out, nil
}

// additionalData binds a ciphertext to its key id: a payload whose id was
// changed does not decrypt, even under a key that happens to be the same.
func additionalData(keyID string) []byte { return []byte("dealflow payload v1, key " + keyID) }

// Encrypted reports whether p carries our encryption metadata.
func Encrypted(p *commonpb.Payload) bool {
	return string(p.GetMetadata()[converter.MetadataEncoding]) == Encoding
}

// UnknownKeyError is a payload encrypted with a key the keyring lacks.
type UnknownKeyError struct {
	ID    string   // the payload's key id
	Known []string // the keyring's
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("decrypt payload: it was encrypted with key %q, which is not configured (known: %s); "+
		"a retired key must stay in DEALFLOW_CODEC_OLD_KEYS while payloads encrypted with it exist",
		e.ID, strings.Join(e.Known, ", "))
}

// ErrTampered is a payload that does not decrypt under the key it names: it
// was changed, or made with another key of the same id.
var ErrTampered = errors.New("does not decrypt: it was tampered with, or encrypted with another key of that id")

// Decode decrypts every payload that carries our encryption metadata and
// passes the others through unchanged.
func (k *Keyring) Decode(payloads []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(payloads))
	for i, p := range payloads {
		if !Encrypted(p) {
			out[i] = p
			continue
		}
		d, err := k.decrypt(p)
		if err != nil {
			return nil, err
		}
		out[i] = d
	}
	return out, nil
}

func (k *Keyring) decrypt(p *commonpb.Payload) (*commonpb.Payload, error) {
	md := p.GetMetadata()
	if c, ok := md[MetadataCipher]; ok && string(c) != Cipher {
		return nil, fmt.Errorf("decrypt payload: cipher %q, want %s", c, Cipher)
	}
	id, ok := md[MetadataKeyID]
	if !ok {
		return nil, fmt.Errorf("decrypt payload: encoding %s without %s metadata", Encoding, MetadataKeyID)
	}
	aead, ok := k.aeads[string(id)]
	if !ok {
		return nil, &UnknownKeyError{ID: string(id), Known: k.KeyIDs()}
	}
	data := p.GetData()
	if len(data) < aead.NonceSize()+aead.Overhead() {
		return nil, fmt.Errorf("decrypt payload with key %q: %w", id, ErrTampered)
	}
	plain, err := aead.Open(nil, data[:aead.NonceSize()], data[aead.NonceSize():], additionalData(string(id)))
	if err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: %w", id, ErrTampered)
	}
	var out commonpb.Payload
	if err := proto.Unmarshal(plain, &out); err != nil {
		return nil, fmt.Errorf("decrypt payload with key %q: not a payload inside: %w", id, err)
	}
	return &out, nil
}

// DataConverter is the SDK's default converter with the keyring's codec
// applied to every payload.
func DataConverter(k *Keyring) converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), k)
}

// FailureConverter moves a failure's message and stack trace into an
// encoded (so encrypted) attribute: an error's text may quote customer data.
// Any client decodes it back; histories without it read as before.
func FailureConverter(dc converter.DataConverter) converter.FailureConverter {
	return temporal.NewDefaultFailureConverter(temporal.DefaultFailureConverterOptions{
		DataConverter:          dc,
		EncodeCommonAttributes: true,
	})
}

// DecodeHistory decrypts, in place, every payload of msg (a history, an
// event, any Temporal API message) that carries our encryption metadata.
// Search attributes are left alone.
func DecodeHistory(ctx context.Context, k *Keyring, msg proto.Message) error {
	return proxy.VisitPayloads(ctx, msg, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return k.Decode(ps)
		},
	})
}

// EncryptedPayloads counts the payloads of msg that carry our encryption
// metadata, search attributes aside.
func EncryptedPayloads(ctx context.Context, msg proto.Message) (int, error) {
	n := 0
	err := proxy.VisitPayloads(ctx, msg, proxy.VisitPayloadsOptions{
		SkipSearchAttributes: true,
		Visitor: func(_ *proxy.VisitPayloadsContext, ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
			for _, p := range ps {
				if Encrypted(p) {
					n++
				}
			}
			return ps, nil
		},
	})
	return n, err
}
