package handlers

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
)

// pushPayload is the part of a push event Slipway reads; GitHub, Gitea,
// Forgejo and GitLab all send these fields.
type pushPayload struct {
	Ref     string
	After   string
	Deleted bool
	// Commits are the IDs in the push's commits list (at most
	// maxPushCommits), for the DORA commit sightings.
	Commits []string
}

// maxPushCommits bounds the commit IDs read from one push (forges list at
// most 2048; GitHub 20).
const maxPushCommits = 2048

// errNoPayloadField means a form-encoded delivery has no payload= field.
var errNoPayloadField = errors.New(`the form has no "payload" field`)

// hookJSON returns the JSON document of a delivery body: the body itself,
// or for application/x-www-form-urlencoded (GitHub's default, also
// offered by Gitea and Forgejo) the decoded value of its payload field.
// Both are streamed: nothing is buffered beyond a few KiB.
func hookJSON(contentType string, body io.Reader) io.Reader {
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/x-www-form-urlencoded" {
		return body
	}
	return &formValueReader{r: bufio.NewReader(body), name: "payload"}
}

// formValueReader streams the percent-decoded value of one field of a
// form-encoded body.
type formValueReader struct {
	r     *bufio.Reader
	name  string
	found bool
	done  bool
}

func (f *formValueReader) Read(p []byte) (int, error) {
	if f.done {
		return 0, io.EOF
	}
	if !f.found {
		if err := f.seek(); err != nil {
			return 0, err
		}
	}
	n := 0
	for n < len(p) {
		c, err := f.r.ReadByte()
		if err == io.EOF || c == '&' {
			f.done = true
			break
		}
		if err != nil {
			return n, err
		}
		switch c {
		case '+':
			c = ' '
		case '%':
			var hex [2]byte
			if _, err := io.ReadFull(f.r, hex[:]); err != nil {
				return n, fmt.Errorf("form: truncated %%-escape")
			}
			v, ok := unhex(hex[0])<<4|unhex(hex[1]), validHex(hex[0]) && validHex(hex[1])
			if !ok {
				return n, fmt.Errorf("form: invalid %%-escape %q", "%"+string(hex[:]))
			}
			c = v
		}
		p[n] = c
		n++
	}
	if n == 0 && f.done {
		return 0, io.EOF
	}
	return n, nil
}

// seek reads keys (and skips their values) until the wanted one.
func (f *formValueReader) seek() error {
	for {
		key, err := f.r.ReadString('=')
		if err == io.EOF {
			return errNoPayloadField
		}
		if err != nil {
			return err
		}
		key = strings.TrimSuffix(key, "=")
		if i := strings.LastIndexByte(key, '&'); i >= 0 {
			key = key[i+1:] // a key without value before this one
		}
		if key == f.name {
			f.found = true
			return nil
		}
		if _, err := f.r.ReadString('&'); err == io.EOF {
			return errNoPayloadField
		} else if err != nil {
			return err
		}
	}
}

func validHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// parsePush reads the fields of a push event from a JSON stream, skipping
// everything else token by token (a push of thousands of commits is never
// held in memory).
func parsePush(r io.Reader) (pushPayload, error) {
	push, err := parsePushFields(r)
	if errors.Is(err, io.EOF) && !errors.Is(err, errEmptyBody) {
		err = io.ErrUnexpectedEOF
	}
	return push, err
}

var errEmptyBody = fmt.Errorf("empty: %w", io.EOF)

func parsePushFields(r io.Reader) (pushPayload, error) {
	var push pushPayload
	dec := json.NewDecoder(r)
	if t, err := dec.Token(); err == io.EOF {
		return push, errEmptyBody
	} else if err != nil {
		return push, err
	} else if t != json.Delim('{') {
		return push, errors.New("the body is not a JSON object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return push, err
		}
		key, _ := t.(string)
		switch key {
		case "ref":
			err = decodeField(dec, key, &push.Ref)
		case "after":
			err = decodeField(dec, key, &push.After)
		case "commits":
			push.Commits, err = commitIDs(dec)
		case "deleted":
			var d *bool
			if err = decodeField(dec, key, &d); d != nil {
				push.Deleted = *d
			}
		default:
			err = skipValue(dec)
		}
		if err != nil {
			return push, err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return push, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return push, errors.New("data after the JSON object")
	}
	return push, nil
}

func decodeField(dec *json.Decoder, key string, v any) error {
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return fmt.Errorf("%q must be a %s, not a %s", key, typeName(v), te.Value)
		}
		return err
	}
	return nil
}

func typeName(v any) string {
	if _, ok := v.(*string); ok {
		return "string"
	}
	return "boolean"
}

// skipValue reads one JSON value of any size and forgets it.
func skipValue(dec *json.Decoder) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	return skipRest(dec, t)
}

// commitIDs reads a push's commits array, keeping each commit's "id" and
// skipping the rest token by token. Anything else in that place (null,
// a non-object element, an id that is not a string) is skipped, never
// refused: the IDs only feed statistics, the build does not need them.
func commitIDs(dec *json.Decoder) ([]string, error) {
	t, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('[') {
		return nil, skipRest(dec, t)
	}
	var ids []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		if t != json.Delim('{') {
			if err := skipRest(dec, t); err != nil {
				return nil, err
			}
			continue
		}
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return nil, err
			}
			v, err := dec.Token()
			if err != nil {
				return nil, err
			}
			if id, ok := v.(string); ok && k == "id" && len(ids) < maxPushCommits {
				ids = append(ids, id)
			}
			if err := skipRest(dec, v); err != nil {
				return nil, err
			}
		}
		if _, err := dec.Token(); err != nil { // the commit's closing brace
			return nil, err
		}
	}
	_, err = dec.Token() // the closing bracket
	return ids, err
}

// skipRest finishes skipping a value whose first token t was read.
func skipRest(dec *json.Decoder, t json.Token) error {
	depth := 0
	for {
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
		var err error
		if t, err = dec.Token(); err != nil {
			return err
		}
	}
}
