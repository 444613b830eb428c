package models

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
)

// MaxNotificationEndpoints caps a project's endpoints.
const MaxNotificationEndpoints = 50

// ErrTooManyEndpoints is returned when a project already has
// MaxNotificationEndpoints endpoints.
var ErrTooManyEndpoints = errors.New("too many notification endpoints")

// SetNotifyHooks connects the store (and every transaction it opens) to
// the job system. Until it is called, events are not recorded: a process
// without workers or an insert client (a CLI command) sends nothing.
func (s *Store) SetNotifyHooks(h NotifyHooks) { s.notify.Store(&h) }

// NewNotifyKey returns a random key for a new endpoint or a message id
// suffix: 26 characters of lower-case base32.
func NewNotifyKey() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [26]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b[:])
}

// CreateNotificationEndpoint inserts e (Key is set when empty).
func (s *Store) CreateNotificationEndpoint(ctx context.Context, e *NotificationEndpoint) error {
	return s.Tx(ctx, func(tx *Store) error {
		var n int64
		if err := tx.db.WithContext(ctx).Model(&NotificationEndpoint{}).Where("project_id = ?", e.ProjectID).Count(&n).Error; err != nil {
			return wrap("create notification endpoint", err)
		}
		if n >= MaxNotificationEndpoints {
			return fmt.Errorf("models: create notification endpoint: %w (at most %d per project)", ErrTooManyEndpoints, MaxNotificationEndpoints)
		}
		if e.Key == "" {
			e.Key = NewNotifyKey()
		}
		return wrap("create notification endpoint", tx.db.WithContext(ctx).Create(e).Error)
	})
}

// NotificationEndpoint returns endpoint id of project projectID (with its
// creator).
func (s *Store) NotificationEndpoint(ctx context.Context, projectID, id int64) (*NotificationEndpoint, error) {
	var e NotificationEndpoint
	err := s.db.WithContext(ctx).Preload("CreatedBy").Where("project_id = ?", projectID).First(&e, id).Error
	if err != nil {
		return nil, wrap("notification endpoint", err)
	}
	return &e, nil
}

// NotificationEndpoints lists a project's endpoints by name.
func (s *Store) NotificationEndpoints(ctx context.Context, projectID int64) ([]NotificationEndpoint, error) {
	var es []NotificationEndpoint
	err := s.db.WithContext(ctx).Preload("CreatedBy").Where("project_id = ?", projectID).Order("name, id").Find(&es).Error
	return es, wrap("notification endpoints", err)
}

// UpdateNotificationEndpoint saves e's name, events and enabled flag (a
// user enabling an endpoint clears its disabled reason).
func (s *Store) UpdateNotificationEndpoint(ctx context.Context, e *NotificationEndpoint) error {
	if e.Enabled {
		e.DisabledReason = ""
	}
	res := s.db.WithContext(ctx).Model(&NotificationEndpoint{}).Where("id = ? AND project_id = ?", e.ID, e.ProjectID).
		Updates(map[string]any{"name": e.Name, "events": e.Events, "enabled": e.Enabled, "disabled_reason": e.DisabledReason, "updated_at": time.Now()})
	if res.Error == nil && res.RowsAffected == 0 {
		return wrap("update notification endpoint", gorm.ErrRecordNotFound)
	}
	return wrap("update notification endpoint", res.Error)
}

// RotateNotificationSecret makes sealed the endpoint's signing secret and
// keeps the current one signing as well until oldUntil.
func (s *Store) RotateNotificationSecret(ctx context.Context, id int64, sealed []byte, oldUntil time.Time) error {
	res := s.db.WithContext(ctx).Model(&NotificationEndpoint{}).Where("id = ?", id).Updates(map[string]any{
		"old_secret_sealed": gorm.Expr("secret_sealed"), "old_secret_expires_at": oldUntil.UTC(),
		"secret_sealed": sealed, "updated_at": time.Now(),
	})
	if res.Error == nil && res.RowsAffected == 0 {
		return wrap("rotate notification secret", gorm.ErrRecordNotFound)
	}
	return wrap("rotate notification secret", res.Error)
}

// DisableNotificationEndpoint turns endpoint id off with reason.
func (s *Store) DisableNotificationEndpoint(ctx context.Context, id int64, reason string) error {
	err := s.db.WithContext(ctx).Model(&NotificationEndpoint{}).Where("id = ?", id).
		Updates(map[string]any{"enabled": false, "disabled_reason": reason, "updated_at": time.Now()}).Error
	return wrap("disable notification endpoint", err)
}

// DeleteNotificationEndpoint deletes endpoint id of project projectID and
// its delivery log.
func (s *Store) DeleteNotificationEndpoint(ctx context.Context, projectID, id int64) error {
	return s.Tx(ctx, func(tx *Store) error {
		db := tx.db.WithContext(ctx)
		if err := db.Where("endpoint_id = ?", id).Delete(&NotificationDelivery{}).Error; err != nil {
			return wrap("delete notification endpoint", err)
		}
		res := db.Where("id = ? AND project_id = ?", id, projectID).Delete(&NotificationEndpoint{})
		if res.Error == nil && res.RowsAffected == 0 {
			return wrap("delete notification endpoint", gorm.ErrRecordNotFound)
		}
		return wrap("delete notification endpoint", res.Error)
	})
}

// NotificationDelivery returns delivery id with its endpoint.
func (s *Store) NotificationDelivery(ctx context.Context, id int64) (*NotificationDelivery, error) {
	var d NotificationDelivery
	if err := s.db.WithContext(ctx).Preload("Endpoint").First(&d, id).Error; err != nil {
		return nil, wrap("notification delivery", err)
	}
	return &d, nil
}

// NotificationDeliveries lists an endpoint's newest deliveries.
func (s *Store) NotificationDeliveries(ctx context.Context, endpointID int64, limit int) ([]NotificationDelivery, error) {
	if limit <= 0 || limit > 500 {
		limit = 50
	}
	var ds []NotificationDelivery
	err := s.db.WithContext(ctx).Where("endpoint_id = ?", endpointID).Order("id DESC").Limit(limit).Find(&ds).Error
	return ds, wrap("notification deliveries", err)
}

// DeliveryAttempt is the outcome of one attempt, as the worker records it.
type DeliveryAttempt struct {
	Status     string
	StatusCode int
	Error      string
	Response   string
	// NextAt is when the next attempt runs (pending only).
	NextAt *time.Time
	At     time.Time
}

// RecordDeliveryAttempt counts one attempt of delivery id and stores its
// outcome.
func (s *Store) RecordDeliveryAttempt(ctx context.Context, id int64, a DeliveryAttempt) error {
	set := map[string]any{
		"status": a.Status, "attempts": gorm.Expr("attempts + 1"), "last_status_code": a.StatusCode,
		"last_error": clip(a.Error, 1024), "last_response": clip(a.Response, 1024), "next_attempt_at": a.NextAt, "updated_at": a.At,
	}
	if a.Status == DeliverySucceeded {
		set["delivered_at"] = a.At
	}
	res := s.db.WithContext(ctx).Model(&NotificationDelivery{}).Where("id = ?", id).Updates(set)
	if res.Error == nil && res.RowsAffected == 0 {
		return wrap("record delivery attempt", gorm.ErrRecordNotFound)
	}
	return wrap("record delivery attempt", res.Error)
}

// FailDelivery ends delivery id without an attempt (its endpoint is gone
// or disabled).
func (s *Store) FailDelivery(ctx context.Context, id int64, reason string) error {
	err := s.db.WithContext(ctx).Model(&NotificationDelivery{}).Where("id = ?", id).
		Updates(map[string]any{"status": DeliveryFailed, "last_error": clip(reason, 1024), "next_attempt_at": nil, "updated_at": time.Now()}).Error
	return wrap("fail delivery", err)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8ValidTail(s) {
		s = s[:len(s)-1]
	}
	return s
}

func utf8ValidTail(s string) bool { return strings.ToValidUTF8(s, "\x00") == s }

// QueueDelivery records a delivery of payload (message id msgID) to
// endpoint e and enqueues its job, in one transaction. It serves "send
// test" and Redeliver, which deliver whatever the subscription says.
func (s *Store) QueueDelivery(ctx context.Context, e *NotificationEndpoint, eventType, msgID, payload string) (*NotificationDelivery, error) {
	var d *NotificationDelivery
	err := s.Tx(ctx, func(tx *Store) error {
		h := tx.notify.Load()
		if h == nil || h.Enqueue == nil {
			return errors.New("models: queue delivery: no job system to deliver it")
		}
		var err error
		d, err = tx.createDelivery(ctx, h, e.ID, eventType, msgID, payload)
		return err
	})
	return d, err
}

func (s *Store) createDelivery(ctx context.Context, h *NotifyHooks, endpointID int64, eventType, msgID, payload string) (*NotificationDelivery, error) {
	if msgID == "" {
		msgID = "msg_" + NewNotifyKey()
	}
	now := time.Now().UTC()
	d := &NotificationDelivery{EndpointID: endpointID, EventType: eventType, MessageID: msgID, Payload: payload,
		Status: DeliveryPending, NextAttemptAt: &now}
	if err := s.db.WithContext(ctx).Create(d).Error; err != nil {
		return nil, wrap("create delivery", err)
	}
	if err := h.Enqueue(ctx, s, d.ID); err != nil {
		return nil, fmt.Errorf("models: enqueue delivery: %w", err)
	}
	return d, nil
}

// SetDeliveryJob records the job that delivers d.
func (s *Store) SetDeliveryJob(ctx context.Context, id, jobID int64) error {
	return wrap("set delivery job", s.db.WithContext(ctx).Model(&NotificationDelivery{}).Where("id = ?", id).Update("job_id", jobID).Error)
}

// NotifyPayload encodes an event the way deliveries store it.
func NotifyPayload(eventType string, at time.Time, data NotifyData) string {
	b, _ := json.Marshal(struct {
		Type      string     `json:"type"`
		Timestamp time.Time  `json:"timestamp"`
		Data      NotifyData `json:"data"`
	}{eventType, at.UTC().Truncate(time.Second), data})
	return string(b)
}

// EnqueueNotifications records one delivery per enabled endpoint of the
// event's project that subscribes to its type, and enqueues their jobs —
// in the transaction s belongs to (it opens one otherwise), so an event
// whose change rolls back sends nothing. A promotion.waiting goes only to
// endpoints whose creator may approve the promotion.
func (s *Store) EnqueueNotifications(ctx context.Context, ev NotifyEvent) error {
	h := s.notify.Load()
	if h == nil || h.Enqueue == nil {
		return nil
	}
	if _, inTx := s.SQLTx(); !inTx {
		return s.Tx(ctx, func(tx *Store) error { return tx.EnqueueNotifications(ctx, ev) })
	}
	var es []NotificationEndpoint
	if err := s.db.WithContext(ctx).Preload("CreatedBy").Where("project_id = ? AND enabled = ?", ev.ProjectID, true).Order("id").Find(&es).Error; err != nil {
		return wrap("enqueue notifications", err)
	}
	var payload string
	for i := range es {
		e := &es[i]
		if !e.Subscribes(ev.Type) {
			continue
		}
		if ev.Type == NotifyPromotionWaiting {
			if h.MayApprove == nil || ev.Promotion == nil || e.CreatedBy == nil || e.CreatedBy.Disabled || !h.MayApprove(e.CreatedBy, ev.Promotion) {
				continue
			}
		}
		if payload == "" {
			if ev.At.IsZero() {
				ev.At = time.Now()
			}
			if ev.Data.Project == "" {
				var p Project
				if err := s.db.WithContext(ctx).First(&p, ev.ProjectID).Error; err != nil {
					return wrap("enqueue notifications: project", err)
				}
				ev.Data.Project, ev.Data.ProjectName = p.Slug, p.Name
			}
			payload = NotifyPayload(ev.Type, ev.At, ev.Data)
		}
		if _, err := s.createDelivery(ctx, h, e.ID, ev.Type, "", payload); err != nil {
			return err
		}
	}
	return nil
}

// notifyBuildFinished emits build.failed, or build.fixed when build b
// succeeded and the previous build of its ref that ended with a verdict
// (succeeded or failed; canceled and interrupted builds have none) failed.
func (s *Store) notifyBuildFinished(ctx context.Context, id int64) error {
	if s.notify.Load() == nil {
		return nil
	}
	var b Build
	if err := s.db.WithContext(ctx).Preload("Project").First(&b, id).Error; err != nil {
		return wrap("notify build", err)
	}
	typ := ""
	switch b.Status {
	case BuildFailed:
		typ = NotifyBuildFailed
	case BuildSucceeded:
		var prev []Build
		err := s.db.WithContext(ctx).Select("id", "status").
			Where("project_id = ? AND ref = ? AND id < ? AND status IN ?", b.ProjectID, b.Ref, b.ID, []string{BuildSucceeded, BuildFailed}).
			Order("id DESC").Limit(1).Find(&prev).Error
		if err != nil {
			return wrap("notify build: previous", err)
		}
		if len(prev) == 1 && prev[0].Status == BuildFailed {
			typ = NotifyBuildFixed
		}
	}
	if typ == "" {
		return nil
	}
	return s.EnqueueNotifications(ctx, NotifyEvent{Type: typ, ProjectID: b.ProjectID, Data: NotifyData{
		Project: b.Project.Slug, ProjectName: b.Project.Name, Path: "/builds/" + strconv.FormatInt(b.ID, 10),
		Build: &NotifyBuild{Number: b.Number, Ref: b.Ref, Commit: b.CommitSHA, Status: b.Status, Reason: b.StatusReason},
	}})
}

// notifyRelease emits deploy.live, rollback or deploy.failed for release id.
func (s *Store) notifyRelease(ctx context.Context, id int64) error {
	if s.notify.Load() == nil {
		return nil
	}
	var r Release
	if err := s.db.WithContext(ctx).Preload("Environment.Project").Preload("CreatedBy").First(&r, id).Error; err != nil {
		return wrap("notify release", err)
	}
	typ := NotifyDeployLive
	switch {
	case r.Status == ReleaseFailed:
		typ = NotifyDeployFailed
	case r.Reason == ReasonRollback:
		typ = NotifyRollback
	}
	p := r.Environment.Project
	d := NotifyData{Project: p.Slug, ProjectName: p.Name, Environment: r.Environment.Name,
		Path:    "/releases/" + strconv.FormatInt(r.ID, 10),
		Release: &NotifyRelease{ID: r.ID, ArtifactSHA256: r.ArtifactSHA256, Reason: r.Reason, Error: r.Error}}
	if r.CreatedBy != nil {
		d.Actor = r.CreatedBy.Username
	}
	return s.EnqueueNotifications(ctx, NotifyEvent{Type: typ, ProjectID: p.ID, Data: d})
}

// notifyLoadTest emits loadtest.failed for a run that failed or errored.
func (s *Store) notifyLoadTest(ctx context.Context, id int64) error {
	if s.notify.Load() == nil {
		return nil
	}
	var l LoadTest
	if err := s.db.WithContext(ctx).Preload("Project").Preload("Environment").First(&l, id).Error; err != nil {
		return wrap("notify load test", err)
	}
	if l.Status != LoadTestFailed && l.Status != LoadTestError {
		return nil
	}
	return s.EnqueueNotifications(ctx, NotifyEvent{Type: NotifyLoadTestFailed, ProjectID: l.ProjectID, Data: NotifyData{
		Project: l.Project.Slug, ProjectName: l.Project.Name, Environment: l.Environment.Name,
		Path:     "/loadtests/" + strconv.FormatInt(l.ID, 10),
		LoadTest: &NotifyLoadTest{ID: l.ID, Status: l.Status, Error: l.Error},
	}})
}

// notifyAudit turns the audit events that matter to subscribers
// (promotion requested, approved, rejected) into notifications.
func (s *Store) notifyAudit(ctx context.Context, e *AuditEvent) error {
	if s.notify.Load() == nil || e.ObjectType != "promotion" {
		return nil
	}
	typ := ""
	switch e.Action {
	case AuditPromotionCreate:
		typ = NotifyPromotionWaiting
	case AuditApprove:
		typ = NotifyPromotionApproved
	case AuditReject:
		typ = NotifyPromotionRejected
	default:
		return nil
	}
	id, err := strconv.ParseInt(e.ObjectID, 10, 64)
	if err != nil {
		return nil
	}
	var p Promotion
	err = s.db.WithContext(ctx).Preload("Project").Preload("FromEnvironment").Preload("ToEnvironment").Preload("Build").First(&p, id).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil // an event about a promotion that is not (or no longer) there: nobody to tell
	}
	if err != nil {
		return wrap("notify promotion", err)
	}
	if typ == NotifyPromotionWaiting && (p.Status != PromotionPending || p.ToEnvironment.ApprovalsRequired <= 0) {
		return nil // nothing waits for an approver
	}
	var details struct {
		Comment string `json:"comment"`
	}
	_ = json.Unmarshal([]byte(e.Details), &details)
	return s.EnqueueNotifications(ctx, NotifyEvent{Type: typ, ProjectID: p.ProjectID, Promotion: &p, Data: NotifyData{
		Project: p.Project.Slug, ProjectName: p.Project.Name, Actor: e.ActorName, Comment: details.Comment,
		Environment: p.ToEnvironment.Name, FromEnvironment: p.FromEnvironment.Name,
		Path:      "/promotions/" + strconv.FormatInt(p.ID, 10),
		Promotion: &NotifyPromotion{ID: p.ID, Status: p.Status, ArtifactSHA256: p.ArtifactSHA256},
	}})
}

// DeliveryRetention is how long finished deliveries stay in the log.
const DeliveryRetention = 30 * 24 * time.Hour

// PruneDeliveries deletes finished deliveries last updated before cutoff
// (pending ones stay however old they are) and reports how many went.
func (s *Store) PruneDeliveries(ctx context.Context, cutoff time.Time) (int64, error) {
	res := s.db.WithContext(ctx).Where("status <> ? AND updated_at < ?", DeliveryPending, cutoff.UTC()).Delete(&NotificationDelivery{})
	return res.RowsAffected, wrap("prune deliveries", res.Error)
}
