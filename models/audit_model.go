package models

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// The audit actions recorded so far. Actions are "object.verb" (or a bare
// verb for the deploy pipeline); new features add their own here so the
// audit page's filter and the docs stay in one place.
const (
	AuditUserCreate  = "user.create"
	AuditUserRole    = "user.role"
	AuditUserDisable = "user.disable"
	AuditUserEnable  = "user.enable"
	// AuditUserPassword is a password change: a user's own (details:
	// "reset": false) or an admin's reset of another's ("reset": true).
	AuditUserPassword   = "user.password"
	AuditTokenCreate    = "token.create"
	AuditTokenRevoke    = "token.revoke"
	AuditProjectCreate  = "project.create"
	AuditProjectProtect = "project.branch_protection"
	AuditDeploy         = "deploy"
	// AuditDeploySkipped is an auto-deploy the portal declined (object: the
	// build; details: the environment, what is live there, and why).
	AuditDeploySkipped   = "deploy.skipped"
	AuditRollback        = "rollback"
	AuditPromotionCreate = "promotion.create"
	AuditPromotionCancel = "promotion.cancel"
	AuditApprove         = "approval.approve"
	AuditReject          = "approval.reject"
	AuditPolicyUpdate    = "policy.update"
	AuditSecretSet       = "secret.set"
	AuditVariableSet     = "variable.set"
	AuditEnvCreate       = "environment.create"
	AuditEnvUpdate       = "environment.update"
	AuditEnvMove         = "environment.move"
	AuditEnvDelete       = "environment.delete"
	AuditFreezeOverride  = "freeze.override"
	// AuditCommit is a commit made in the web IDE or through the API.
	AuditCommit = "code.commit"
	// AuditLoadTestLimits is an admin's change of the load-test caps
	// (details: the caps before and after).
	AuditLoadTestLimits = "loadtest.limits"
)

// Actor names for changes no signed-in user made.
const (
	// AuditActorCLI is the actor of changes made with the slipway command
	// on the server (user add, token create).
	AuditActorCLI = "cli"
	// AuditActorSystem is the actor of changes the portal makes by itself
	// (the first admin account, automatic rollbacks).
	AuditActorSystem = "system"
)

// auditGenesis is the prev_hash of the first event.
const auditGenesis = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditEvent is one entry of the append-only, hash-chained audit trail.
// Rows are only ever inserted (Store.AppendAudit); the Store has no way to
// change or remove one, and PostgreSQL and SQLite triggers refuse it.
type AuditEvent struct {
	ID int64
	// Seq numbers events 1, 2, 3, … without gaps; a gap means a deleted row.
	Seq int64
	// At is when the event was appended, UTC, microsecond precision.
	At time.Time
	// ActorID is the user who acted; nil for the CLI and the system, and
	// it stays set (dangling) if the user is deleted later.
	ActorID *int64
	// ActorName is the actor's username copied at the time, or
	// AuditActorCLI / AuditActorSystem.
	ActorName string
	// Action is what happened, one of the Audit* constants.
	Action string
	// ObjectType and ObjectID name what it happened to ("user", "42").
	ObjectType string
	ObjectID   string
	// Details is a JSON object with the specifics; never a secret.
	Details string
	// PrevHash is the previous event's Hash (64 zeros for the first).
	PrevHash string
	// Hash is the SHA-256 of the canonical encoding of this event
	// (see AuditHash).
	Hash string
}

// TableName keeps the table name stable.
func (AuditEvent) TableName() string { return "audit_events" }

// AuditHash returns the hex SHA-256 an event must carry. The canonical
// encoding is the compact JSON array, without HTML escaping,
//
//	["slipway-audit-v1", seq, at, actor_id, actor_name, action,
//	 object_type, object_id, details, prev_hash]
//
// where at is RFC 3339 with nanoseconds in UTC (trailing zeros dropped),
// actor_id is a number or null, and details is the stored JSON text as a
// string. Anyone can recompute it from an export with a few lines of code.
func AuditHash(e *AuditEvent) string {
	var actor any
	if e.ActorID != nil {
		actor = *e.ActorID
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	// Encoding strings and integers cannot fail; invalid UTF-8 is refused
	// before an event is stored, so no two texts encode alike.
	_ = enc.Encode([]any{"slipway-audit-v1", e.Seq, e.At.UTC().Format(time.RFC3339Nano), actor,
		e.ActorName, e.Action, e.ObjectType, e.ObjectID, e.Details, e.PrevHash})
	sum := sha256.Sum256(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return hex.EncodeToString(sum[:])
}

// AuditDetails encodes v (a map or struct of plain values) as the JSON
// object an AuditEvent carries; nil gives "{}". It never fails: a value
// that cannot be encoded is recorded as {"details_error": "…"} so the
// event itself is never lost over formatting.
func AuditDetails(v any) string {
	if v == nil {
		return "{}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"details_error": err.Error()})
	}
	return string(b)
}

// NewAuditEvent builds an event done by actor (nil means the system; set
// ActorName to AuditActorCLI for the command line) with details encoded by
// AuditDetails. Append it with Store.AppendAudit.
func NewAuditEvent(actor *User, action, objectType, objectID string, details any) *AuditEvent {
	e := &AuditEvent{ActorName: AuditActorSystem, Action: action, ObjectType: objectType, ObjectID: objectID, Details: AuditDetails(details)}
	if actor != nil {
		id := actor.ID
		e.ActorID, e.ActorName = &id, actor.Username
	}
	return e
}
