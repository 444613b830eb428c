// Package notify owns outgoing notifications: the event payload and its
// human wording, Standard Webhooks signatures, Slack-compatible messages,
// email over SMTP, and HTTP delivery through a dialer that checks every
// address it connects to. It knows nothing of HTTP routes, pages or jobs.
package notify

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Event types a subscription can name. The strings are part of the
// webhook payload ("type") and of the API.
const (
	BuildFailed       = "build.failed"
	BuildFixed        = "build.fixed"
	DeployLive        = "deploy.live"
	DeployFailed      = "deploy.failed"
	PromotionWaiting  = "promotion.waiting"
	PromotionApproved = "promotion.approved"
	PromotionRejected = "promotion.rejected"
	Rollback          = "rollback"
	LoadTestFailed    = "loadtest.failed"
	// Test is what the "send test" button sends; no subscription names it.
	Test = "test"
)

// Event is the payload of one notification, in the Standard Webhooks
// envelope: a type, when it happened, and the data.
type Event struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      Data      `json:"data"`
}

// Data describes what happened. Only the parts that fit the event type are
// set.
type Data struct {
	Project     string `json:"project"`
	ProjectName string `json:"project_name,omitempty"`
	// Path is the portal page of the object ("/projects/shop/builds/12");
	// URL is the same page as an absolute link when the portal knows its
	// public URL.
	Path            string     `json:"path,omitempty"`
	URL             string     `json:"url,omitempty"`
	Actor           string     `json:"actor,omitempty"`
	Environment     string     `json:"environment,omitempty"`
	FromEnvironment string     `json:"from_environment,omitempty"`
	Comment         string     `json:"comment,omitempty"`
	Build           *Build     `json:"build,omitempty"`
	Release         *Release   `json:"release,omitempty"`
	Promotion       *Promotion `json:"promotion,omitempty"`
	LoadTest        *LoadTest  `json:"load_test,omitempty"`
}

// Build is the build an event is about.
type Build struct {
	Number int64  `json:"number"`
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// Release is the release an event is about.
type Release struct {
	ID             int64  `json:"id"`
	ArtifactSHA256 string `json:"artifact_sha256"`
	Reason         string `json:"reason,omitempty"`
	Error          string `json:"error,omitempty"`
}

// Promotion is the promotion an event is about.
type Promotion struct {
	ID             int64  `json:"id"`
	Status         string `json:"status"`
	ArtifactSHA256 string `json:"artifact_sha256"`
}

// LoadTest is the load test an event is about.
type LoadTest struct {
	ID     int64  `json:"id"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Parse reads a payload.
func Parse(payload []byte) (Event, error) {
	var ev Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		return ev, fmt.Errorf("notify: parse payload: %w", err)
	}
	return ev, nil
}

// WithURL returns the payload with data.url set to baseURL+data.path
// (when both are known), re-encoded. The result is what is sent and signed.
func WithURL(payload []byte, baseURL string) ([]byte, Event, error) {
	ev, err := Parse(payload)
	if err != nil {
		return nil, ev, err
	}
	if baseURL != "" && ev.Data.Path != "" {
		ev.Data.URL = strings.TrimRight(baseURL, "/") + ev.Data.Path
	}
	b, err := json.Marshal(ev)
	if err != nil {
		return nil, ev, fmt.Errorf("notify: encode payload: %w", err)
	}
	return b, ev, nil
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Summary is the event in one line, as a chat message or mail subject
// says it.
func (ev Event) Summary() string {
	d := ev.Data
	p := d.Project
	switch ev.Type {
	case BuildFailed:
		if b := d.Build; b != nil {
			return fmt.Sprintf("%s: build #%d of %s failed", p, b.Number, b.Ref)
		}
	case BuildFixed:
		if b := d.Build; b != nil {
			return fmt.Sprintf("%s: build #%d of %s is fixed", p, b.Number, b.Ref)
		}
	case DeployLive:
		if r := d.Release; r != nil {
			return fmt.Sprintf("%s: release #%d (%s) is live in %s", p, r.ID, short(r.ArtifactSHA256), d.Environment)
		}
	case DeployFailed:
		if r := d.Release; r != nil {
			return fmt.Sprintf("%s: deploy of release #%d to %s failed", p, r.ID, d.Environment)
		}
	case Rollback:
		if r := d.Release; r != nil {
			return fmt.Sprintf("%s: %s rolled back to release #%d (%s)", p, d.Environment, r.ID, short(r.ArtifactSHA256))
		}
	case PromotionWaiting:
		if pr := d.Promotion; pr != nil {
			return fmt.Sprintf("%s: promotion #%d %s → %s is waiting for your approval", p, pr.ID, d.FromEnvironment, d.Environment)
		}
	case PromotionApproved:
		if pr := d.Promotion; pr != nil {
			return fmt.Sprintf("%s: promotion #%d %s → %s approved by %s", p, pr.ID, d.FromEnvironment, d.Environment, d.Actor)
		}
	case PromotionRejected:
		if pr := d.Promotion; pr != nil {
			return fmt.Sprintf("%s: promotion #%d %s → %s rejected by %s", p, pr.ID, d.FromEnvironment, d.Environment, d.Actor)
		}
	case LoadTestFailed:
		if l := d.LoadTest; l != nil {
			return fmt.Sprintf("%s: load test #%d against %s %s", p, l.ID, d.Environment, l.Status)
		}
	case Test:
		return fmt.Sprintf("%s: test notification from Slipway", p)
	}
	return fmt.Sprintf("%s: %s", p, ev.Type)
}

// Details are the event's facts as label/value lines, in display order.
func (ev Event) Details() [][2]string {
	d := ev.Data
	var out [][2]string
	add := func(k, v string) {
		if v != "" {
			out = append(out, [2]string{k, v})
		}
	}
	add("Event", ev.Type)
	add("Project", d.Project)
	if b := d.Build; b != nil {
		add("Ref", b.Ref)
		add("Commit", short(b.Commit))
		add("Status", b.Status)
		add("Reason", b.Reason)
	}
	add("From", d.FromEnvironment)
	add("Environment", d.Environment)
	if r := d.Release; r != nil {
		add("Artifact", short(r.ArtifactSHA256))
		add("Error", r.Error)
	}
	if pr := d.Promotion; pr != nil {
		add("Artifact", short(pr.ArtifactSHA256))
	}
	if l := d.LoadTest; l != nil {
		add("Status", l.Status)
		add("Error", l.Error)
	}
	add("By", d.Actor)
	add("Comment", d.Comment)
	add("Link", d.URL)
	return out
}
