package jobs

import (
	"context"
	"errors"
	"fmt"
	"github.com/slipway-ci/slipway/internal/delivery"
	"log/slog"
	"net/http"
	"time"

	"github.com/riverqueue/river"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/internal/notify"
	"github.com/slipway-ci/slipway/models"
)

// QueueNotify is the queue of notification deliveries.
const QueueNotify = "notifications"

// ErrNoMailer means an email endpoint fired but no SMTP server is set.
var ErrNoMailer = errors.New("email is not configured on this server: an admin sets --smtp-url")

// NotifyArgs delivers one notification (a row of the delivery log).
type NotifyArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

// Kind implements river.JobArgs.
func (NotifyArgs) Kind() string { return "notify" }

// InsertOpts puts deliveries on their own queue. River's own retries only
// cover a worker that crashed mid-attempt; the delivery schedule is the
// worker's (snoozes), recorded on the row.
func (NotifyArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueNotify, MaxAttempts: 5}
}

// NotifyWorker makes one attempt of a delivery and schedules the next.
type NotifyWorker struct {
	river.WorkerDefaults[NotifyArgs]
	j *Jobs
}

// Timeout bounds a job: one attempt and its bookkeeping.
func (w *NotifyWorker) Timeout(*river.Job[NotifyArgs]) time.Duration {
	return w.j.notifyTimeout() + 30*time.Second
}

func (j *Jobs) notifyTimeout() time.Duration {
	if j.deps.NotifyTimeout > 0 {
		return j.deps.NotifyTimeout
	}
	return notify.DefaultTimeout
}

func (j *Jobs) notifySchedule() []time.Duration {
	if len(j.deps.NotifySchedule) > 0 {
		return j.deps.NotifySchedule
	}
	return notify.Schedule
}

// NotifyNetwork is which addresses an endpoint may reach: those its
// creator's current role may (admins: anything; others: public addresses
// and the admin allow-list, Deps.NotifyNetworks).
func (j *Jobs) NotifyNetwork(ctx context.Context, e *models.NotificationEndpoint) gitrepo.Network {
	role := auth.Role("")
	if e.CreatedByID != nil {
		if u, err := j.deps.Store.User(ctx, *e.CreatedByID); err == nil && !u.Disabled {
			role = auth.Role(u.Role)
		}
	}
	return j.NotifyNetworkFor(role)
}

// NotifyNetworkFor is which addresses an endpoint created by role may
// reach.
func (j *Jobs) NotifyNetworkFor(role auth.Role) gitrepo.Network {
	return gitrepo.Network{AllowPrivate: auth.Can(role, auth.LinkLocalRepo), Allow: j.deps.NotifyNetworks}
}

// Work makes one attempt.
func (w *NotifyWorker) Work(ctx context.Context, job *river.Job[NotifyArgs]) error {
	st := w.j.deps.Store
	d, err := st.NotificationDelivery(ctx, job.Args.DeliveryID)
	if errors.Is(err, models.ErrNotFound) {
		return nil // the endpoint was deleted with its log
	}
	if err != nil {
		return err
	}
	if d.Status != models.DeliveryPending {
		return nil
	}
	if !d.Endpoint.Enabled {
		return st.FailDelivery(ctx, d.ID, "not sent: the endpoint is disabled")
	}
	res := w.j.attempt(ctx, d)
	now := time.Now().UTC()
	a := models.DeliveryAttempt{StatusCode: res.StatusCode, Response: res.Response, At: now}
	if res.Err != nil {
		a.Error = res.Err.Error()
	}
	log := w.j.log.With(slog.Int64("delivery", d.ID), slog.Int64("endpoint", d.Endpoint.ID), slog.String("event", d.EventType))
	switch {
	case res.OK():
		a.Status = models.DeliverySucceeded
		return st.RecordDeliveryAttempt(ctx, d.ID, a)
	case res.Gone():
		a.Status = models.DeliveryFailed
		log.Warn("notification endpoint answered 410 Gone: disabled")
		// One transaction: whoever sees the delivery failed sees the
		// endpoint disabled too.
		return st.Tx(ctx, func(tx *models.Store) error {
			if err := tx.DisableNotificationEndpoint(ctx, d.Endpoint.ID, "the receiver answered 410 Gone on "+now.Format("2006-01-02 15:04 UTC")); err != nil {
				return err
			}
			return tx.RecordDeliveryAttempt(ctx, d.ID, a)
		})
	}
	delay, more := notify.NextDelay(w.j.notifySchedule(), d.Attempts+1, res.RetryAfter)
	if !more {
		a.Status = models.DeliveryFailed
		log.Warn("notification delivery gave up", slog.Int("attempts", d.Attempts+1), slog.String("err", a.Error))
		return st.RecordDeliveryAttempt(ctx, d.ID, a)
	}
	next := now.Add(delay)
	a.Status, a.NextAt = models.DeliveryPending, &next
	if err := st.RecordDeliveryAttempt(ctx, d.ID, a); err != nil {
		return err
	}
	return river.JobSnooze(delay)
}

// attempt sends delivery d once.
func (j *Jobs) attempt(ctx context.Context, d *models.NotificationDelivery) notify.Result {
	e := &d.Endpoint
	body, ev, err := notify.WithURL([]byte(d.Payload), j.deps.PublicURL)
	if err != nil {
		return notify.Result{Err: err}
	}
	if e.Kind == models.EndpointEmail {
		if j.deps.Mailer == nil {
			return notify.Result{Err: ErrNoMailer}
		}
		to, err := notify.ParseAddresses(e.Target)
		if err != nil {
			return notify.Result{Err: err}
		}
		if err := j.deps.Mailer.Send(ctx, d.MessageID, to, ev); err != nil {
			return notify.Result{Err: err}
		}
		return notify.Result{StatusCode: 250}
	}
	if j.deps.Secrets == nil {
		return notify.Result{Err: fmt.Errorf("cannot open the endpoint's URL: %w", ErrNoSecretBox)}
	}
	rawURL, err := j.deps.Secrets.Open(e.URLSealed, e.URLAD())
	if err != nil {
		return notify.Result{Err: fmt.Errorf("cannot open the endpoint's URL: %w", err)}
	}
	header := http.Header{}
	switch e.Kind {
	case models.EndpointSlack:
		body = notify.SlackPayload(ev)
	case models.EndpointWebhook:
		secrets, err := j.signingSecrets(e, time.Now())
		if err != nil {
			return notify.Result{Err: err}
		}
		if err := notify.SignHeaders(header, d.MessageID, time.Now(), body, secrets...); err != nil {
			return notify.Result{Err: err}
		}
	default:
		return notify.Result{Err: fmt.Errorf("unknown endpoint kind %q", e.Kind)}
	}
	s := notify.Sender{Timeout: j.notifyTimeout(), UserAgent: "Slipway-Webhooks/1"}
	return s.Post(ctx, j.NotifyNetwork(ctx, e), string(rawURL), header, body)
}

// signingSecrets are the endpoint's current secret and, during a
// rotation, the previous one.
func (j *Jobs) signingSecrets(e *models.NotificationEndpoint, now time.Time) ([]string, error) {
	cur, err := j.deps.Secrets.Open(e.SecretSealed, e.SecretAD())
	if err != nil {
		return nil, fmt.Errorf("cannot open the signing secret: %w", err)
	}
	out := []string{string(cur)}
	if len(e.OldSecretSealed) > 0 && e.OldSecretExpiresAt != nil && now.Before(*e.OldSecretExpiresAt) {
		old, err := j.deps.Secrets.Open(e.OldSecretSealed, e.SecretAD())
		if err != nil {
			return nil, fmt.Errorf("cannot open the previous signing secret: %w", err)
		}
		out = append(out, string(old))
	}
	return out, nil
}

// notifyHooks connect the store's events to this job system.
func (j *Jobs) notifyHooks() models.NotifyHooks {
	return models.NotifyHooks{
		Enqueue: func(ctx context.Context, tx *models.Store, id int64) error {
			res, err := j.InsertTx(ctx, tx, NotifyArgs{DeliveryID: id}, nil)
			if err != nil {
				return err
			}
			return tx.SetDeliveryJob(ctx, id, res.Job.ID)
		},
		MayApprove: func(u *models.User, p *models.Promotion) bool {
			pol, err := delivery.PolicyOf(&p.ToEnvironment)
			if err != nil {
				return false
			}
			return pol.MayApprove(delivery.PersonOf(u), delivery.CandidateOf(p, p.ConfigVersion)) == nil
		},
	}
}

// MailConfigured reports whether this server can send email notifications.
func (j *Jobs) MailConfigured() bool { return j.deps.Mailer != nil }
