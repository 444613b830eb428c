package notify

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SecretPrefix starts every signing secret, as Standard Webhooks has it.
const SecretPrefix = "whsec_"

// ErrBadSecret is returned for a signing secret that is not whsec_
// followed by base64 of 24 to 64 bytes.
var ErrBadSecret = errors.New("notify: a signing secret is whsec_ followed by base64 of 24 to 64 bytes")

// NewSecret returns a fresh signing secret: whsec_ and base64 of 32
// random bytes.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// DecodeSecret returns the HMAC key of a whsec_ secret.
func DecodeSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, ErrBadSecret
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(key) < 24 || len(key) > 64 {
		return nil, ErrBadSecret
	}
	return key, nil
}

// Sign returns the webhook-signature header value for a message: one
// "v1,<base64 HMAC-SHA256(id.timestamp.body)>" per secret, separated by
// spaces. During a rotation both secrets sign, so a receiver holding
// either one accepts the message.
func Sign(id string, timestamp int64, body []byte, secrets ...string) (string, error) {
	if len(secrets) == 0 {
		return "", ErrBadSecret
	}
	sigs := make([]string, 0, len(secrets))
	for _, s := range secrets {
		key, err := DecodeSecret(s)
		if err != nil {
			return "", err
		}
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id))
		m.Write([]byte{'.'})
		m.Write([]byte(strconv.FormatInt(timestamp, 10)))
		m.Write([]byte{'.'})
		m.Write(body)
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
	}
	return strings.Join(sigs, " "), nil
}

// Verify reports whether header (a webhook-signature value) holds a v1
// signature of the message by secret; it compares in constant time. It
// is what a receiver does, and what the tests do.
func Verify(secret, id string, timestamp int64, body []byte, header string) bool {
	want, err := Sign(id, timestamp, body, secret)
	if err != nil {
		return false
	}
	for _, sig := range strings.Fields(header) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

// SignHeaders sets the three Standard Webhooks headers on h.
func SignHeaders(h http.Header, id string, at time.Time, body []byte, secrets ...string) error {
	ts := at.Unix()
	sig, err := Sign(id, ts, body, secrets...)
	if err != nil {
		return err
	}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", sig)
	return nil
}
