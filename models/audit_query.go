package models

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrInvalidAuditEvent is returned by AppendAudit for an event that lacks
// an actor or action, has an over-long field, invalid UTF-8, or details
// that are not a JSON object.
var ErrInvalidAuditEvent = errors.New("invalid audit event")

// ErrAuditSecret is returned by AppendAudit when the details carry a key
// that names a secret ("password", "token", "hash", …): the trail is
// readable by leads and exported as CSV, so secrets never go in.
var ErrAuditSecret = errors.New("audit details must not carry secrets")

// auditLockKey is the PostgreSQL advisory lock that serializes appends
// across every process sharing the database ("slipaudt").
const auditLockKey int64 = 0x736c697061756474

// Default and largest page sizes of AuditEvents.
const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 1000
)

// isSecretKey reports whether a details key names a secret.
func isSecretKey(k string) bool {
	switch strings.ToLower(k) {
	case "password", "password_hash", "passwordhash", "token", "token_hash",
		"hash", "secret", "secret_value", "private_key":
		return true
	}
	return false
}

// AppendAudit adds e at the end of the chain: it assigns Seq, At (when
// zero), PrevHash and Hash, and inserts the row. Call it on the Store a
// Store.Tx gave you so the event commits (or rolls back) with the change
// it records; outside a transaction it opens its own.
//
// Appends are serialized so the chain never forks: on PostgreSQL by a
// transaction-level advisory lock (held until the surrounding transaction
// ends — append last and keep the rest of the transaction short), on
// SQLite by the write lock every transaction takes at BEGIN. Surrounding
// transactions must use the default READ COMMITTED isolation on PostgreSQL.
func (s *Store) AppendAudit(ctx context.Context, e *AuditEvent) error {
	if _, inTx := s.SQLTx(); !inTx {
		return s.Tx(ctx, func(tx *Store) error { return tx.AppendAudit(ctx, e) })
	}
	if err := normalizeAuditEvent(e); err != nil {
		return fmt.Errorf("models: append audit: %w", err)
	}
	db := s.db.WithContext(ctx)
	if s.dialect == Postgres {
		if err := db.Exec("SELECT pg_advisory_xact_lock(?)", auditLockKey).Error; err != nil {
			return wrap("append audit: lock", err)
		}
	}
	var last []AuditEvent
	if err := db.Select("seq", "hash").Order("seq DESC").Limit(1).Find(&last).Error; err != nil {
		return wrap("append audit: last event", err)
	}
	e.ID, e.Seq, e.PrevHash = 0, 1, auditGenesis
	if len(last) == 1 {
		e.Seq, e.PrevHash = last[0].Seq+1, last[0].Hash
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	// Microseconds in UTC survive both databases unchanged, so the hash
	// recomputed from a stored row equals the one computed here.
	e.At = e.At.UTC().Truncate(time.Microsecond)
	e.Hash = AuditHash(e)
	if err := db.Create(e).Error; err != nil {
		return wrap("append audit", err)
	}
	// Subscribers hear of promotions, approvals and rejections in the
	// transaction that records them.
	return s.notifyAudit(ctx, e)
}

// normalizeAuditEvent checks e and compacts its details.
func normalizeAuditEvent(e *AuditEvent) error {
	fields := []struct {
		name, value string
		max         int
		required    bool
	}{
		{"actor name", e.ActorName, 64, true},
		{"action", e.Action, 64, true},
		{"object type", e.ObjectType, 32, false},
		{"object id", e.ObjectID, 128, false},
	}
	for _, f := range fields {
		switch {
		case f.required && f.value == "":
			return fmt.Errorf("%w: %s is empty", ErrInvalidAuditEvent, f.name)
		case !utf8.ValidString(f.value):
			return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidAuditEvent, f.name)
		case utf8.RuneCountInString(f.value) > f.max:
			return fmt.Errorf("%w: %s is longer than %d characters", ErrInvalidAuditEvent, f.name, f.max)
		}
	}
	if strings.TrimSpace(e.Details) == "" {
		e.Details = "{}"
	}
	var obj map[string]json.RawMessage
	if !utf8.ValidString(e.Details) || json.Unmarshal([]byte(e.Details), &obj) != nil || obj == nil {
		return fmt.Errorf("%w: details must be a JSON object", ErrInvalidAuditEvent)
	}
	for k := range obj {
		if isSecretKey(k) {
			return fmt.Errorf("%w: key %q", ErrAuditSecret, k)
		}
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(e.Details)); err != nil {
		return fmt.Errorf("%w: details: %v", ErrInvalidAuditEvent, err)
	}
	e.Details = buf.String()
	return nil
}

// AuditFilter selects audit events. Zero fields match everything.
type AuditFilter struct {
	// Actor matches the actor name exactly.
	Actor string
	// Action matches exactly, or as a prefix when it ends in "." or "*"
	// ("user." or "user.*" selects every user action).
	Action string
	// ObjectType and ObjectID match exactly.
	ObjectType string
	ObjectID   string
	// Since (inclusive) and Until (exclusive) bound At.
	Since, Until time.Time
	// Limit caps the page (default DefaultAuditLimit, at most MaxAuditLimit).
	Limit int
	// BeforeSeq, when set, returns only events older than that seq: pass
	// the last Seq of a page to get the next one.
	BeforeSeq int64
}

// AuditEvents lists matching events, newest first.
func (s *Store) AuditEvents(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	q := s.db.WithContext(ctx).Model(&AuditEvent{})
	if f.Actor != "" {
		q = q.Where("actor_name = ?", f.Actor)
	}
	if a := f.Action; a != "" {
		if p, ok := strings.CutSuffix(a, "*"); ok || strings.HasSuffix(a, ".") {
			if !ok {
				p = a
			}
			// SUBSTR rather than LIKE: no wildcard in the input can widen the match.
			q = q.Where("SUBSTR(action, 1, ?) = ?", utf8.RuneCountInString(p), p)
		} else {
			q = q.Where("action = ?", a)
		}
	}
	if f.ObjectType != "" {
		q = q.Where("object_type = ?", f.ObjectType)
	}
	if f.ObjectID != "" {
		q = q.Where("object_id = ?", f.ObjectID)
	}
	if !f.Since.IsZero() {
		q = q.Where("at >= ?", f.Since.UTC())
	}
	if !f.Until.IsZero() {
		q = q.Where("at < ?", f.Until.UTC())
	}
	if f.BeforeSeq > 0 {
		q = q.Where("seq < ?", f.BeforeSeq)
	}
	switch {
	case f.Limit <= 0:
		f.Limit = DefaultAuditLimit
	case f.Limit > MaxAuditLimit:
		f.Limit = MaxAuditLimit
	}
	var es []AuditEvent
	err := q.Order("seq DESC").Limit(f.Limit).Find(&es).Error
	for i := range es {
		es[i].At = es[i].At.UTC()
	}
	return es, wrap("audit events", err)
}

// AuditActions lists the distinct actions recorded so far, sorted (for the
// audit page's filter).
func (s *Store) AuditActions(ctx context.Context) ([]string, error) {
	var as []string
	err := s.db.WithContext(ctx).Model(&AuditEvent{}).Distinct("action").Order("action").Pluck("action", &as).Error
	return as, wrap("audit actions", err)
}

// VerifyResult is the outcome of VerifyAudit.
type VerifyResult struct {
	// OK is true when every row checked out.
	OK bool
	// Events is how many rows were checked (all of them when OK).
	Events int64
	// LastSeq and LastHash are the head of the intact chain: record them
	// elsewhere to detect a later truncation of the tail, which the chain
	// alone cannot reveal.
	LastSeq  int64
	LastHash string
	// BrokenSeq is the first seq that fails, and Reason says why.
	BrokenSeq int64
	Reason    string
}

// auditVerifyBatch is how many rows VerifyAudit reads at a time.
const auditVerifyBatch = 500

// VerifyAudit walks the whole chain in seq order and reports the first
// row that was edited (its hash does not match its content), deleted (a
// gap in seq), or whose link to the previous row is broken. A broken
// chain is a result, not an error; the error is for failing to read.
func (s *Store) VerifyAudit(ctx context.Context) (VerifyResult, error) {
	return s.verifyAudit(ctx, auditVerifyBatch)
}

// verifyAudit is VerifyAudit reading batch rows at a time.
func (s *Store) verifyAudit(ctx context.Context, batchSize int) (VerifyResult, error) {
	r := VerifyResult{OK: true, LastHash: auditGenesis}
	db := s.db.WithContext(ctx)
	for {
		var batch []AuditEvent
		if err := db.Where("seq > ?", r.LastSeq).Order("seq").Limit(batchSize).Find(&batch).Error; err != nil {
			return r, wrap("verify audit", err)
		}
		for i := range batch {
			e := &batch[i]
			if reason := auditBreak(r.LastSeq, r.LastHash, e); reason != "" {
				r.OK, r.Reason = false, reason
				r.BrokenSeq = e.Seq
				if e.Seq > r.LastSeq+1 {
					r.BrokenSeq = r.LastSeq + 1
				}
				return r, nil
			}
			r.Events++
			r.LastSeq, r.LastHash = e.Seq, e.Hash
		}
		if len(batch) < batchSize {
			return r, nil
		}
	}
}

// auditBreak explains why e cannot follow the event (prevSeq, prevHash),
// or returns "".
func auditBreak(prevSeq int64, prevHash string, e *AuditEvent) string {
	switch {
	case e.Seq != prevSeq+1 && prevSeq == 0:
		return fmt.Sprintf("row missing: the trail starts at seq %d instead of 1 (rows were deleted)", e.Seq)
	case e.Seq != prevSeq+1:
		return fmt.Sprintf("row missing: seq %d is followed by seq %d (a row was deleted)", prevSeq, e.Seq)
	case e.PrevHash != prevHash && prevSeq == 0:
		return "prev_hash of the first row is not the genesis value (rows before it were removed or it was rewritten)"
	case e.PrevHash != prevHash:
		return fmt.Sprintf("prev_hash does not match the hash of seq %d (that row was rewritten, or rows were replaced)", prevSeq)
	case AuditHash(e) != e.Hash:
		return "hash mismatch: the row was edited after it was written"
	}
	return ""
}
