package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

// maxHookBody is the largest webhook payload accepted (1 MiB); a push
// carries a list of commits, which GitHub itself caps well below this.
const maxHookBody = 1 << 20

var (
	shaRE     = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
	zeroSHARE = regexp.MustCompile(`^0+$`)
)

// pushPayload is the part of a push event Slipway reads; GitHub, Gitea,
// Forgejo and GitLab all send these fields.
type pushPayload struct {
	Ref     string `json:"ref"`
	After   string `json:"after"`
	Deleted bool   `json:"deleted"`
}

// receiveHook handles a forge's webhook delivery. The order matters: the
// signature is checked over the raw bytes before anything in them is
// parsed, and the delivery is de-duplicated before it can start a build.
func (h *Handler) receiveHook(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := h.store.ProjectBySlug(ctx, c.Param("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no project called “"+c.Param("slug")+"”")
	}
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxHookBody+1))
	if err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he // the global body limit
		}
		return badRequest("could not read the request body")
	}
	if len(body) > maxHookBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "webhook payloads are limited to 1 MiB")
	}
	secret, err := h.webhookSecret(p)
	if err != nil {
		return err
	}
	hdr := c.Request().Header
	if msg := verifyHook(hdr, body, secret); msg != "" {
		return echo.NewHTTPError(http.StatusUnauthorized, msg)
	}

	event := firstHeader(hdr, "X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event", "X-Gitlab-Event")
	delivery := firstHeader(hdr, "X-GitHub-Delivery", "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery",
		"Idempotency-Key", "X-Gitlab-Event-UUID")
	var rec *models.WebhookDelivery
	if delivery != "" {
		rec = &models.WebhookDelivery{ProjectID: p.ID, DeliveryID: deliveryKey(delivery), Event: truncate(event, 64)}
		err := h.store.RecordWebhookDelivery(ctx, rec)
		if errors.Is(err, models.ErrConflict) {
			return c.JSON(http.StatusOK, map[string]string{"status": "duplicate", "delivery": delivery})
		}
		if err != nil {
			return err
		}
	}

	switch event {
	case "ping":
		return c.JSON(http.StatusOK, map[string]string{"status": "ok", "project": p.Slug})
	case "push", "Push Hook", "Tag Push Hook":
	default:
		return c.JSON(http.StatusAccepted, map[string]string{"status": "ignored", "reason": "only push events start builds", "event": event})
	}

	var push pushPayload
	if err := json.Unmarshal(body, &push); err != nil {
		return badRequest("invalid JSON body: " + jsonErrorText(err))
	}
	switch {
	case push.Ref == "":
		return badRequest(`invalid push event: "ref" is missing`)
	case !strings.HasPrefix(push.Ref, "refs/heads/") && !strings.HasPrefix(push.Ref, "refs/tags/"):
		return c.JSON(http.StatusAccepted, map[string]string{"status": "ignored", "reason": "not a branch or tag: " + truncate(push.Ref, 255)})
	case push.Deleted || zeroSHARE.MatchString(push.After):
		return c.JSON(http.StatusAccepted, map[string]string{"status": "ignored", "reason": "deleted " + truncate(push.Ref, 255)})
	case !shaRE.MatchString(push.After):
		return badRequest(`invalid push event: "after" is not a commit SHA`)
	}

	b, err := h.jobs.CreateBuild(ctx, h.store, jobs.CreateBuildRequest{Project: p, Ref: push.Ref, CommitSHA: push.After, Trigger: jobs.TriggerWebhook})
	if err != nil && rec != nil {
		// Let a redelivery of this event be handled again.
		if ferr := h.store.ForgetWebhookDelivery(ctx, rec.ID); ferr != nil {
			h.log.Warn("forget webhook delivery", "project", p.Slug, "err", ferr)
		}
	}
	if status, msg, ok := createBuildError(err); ok {
		return echo.NewHTTPError(status, "cannot build "+push.Ref+": "+msg).WithInternal(err)
	}
	if err != nil {
		return err
	}
	if rec != nil {
		if err := h.store.SetWebhookDeliveryBuild(ctx, rec.ID, b.ID); err != nil {
			h.log.Warn("link webhook delivery", "project", p.Slug, "build", b.ID, "err", err)
		}
	}
	return c.JSON(http.StatusCreated, map[string]any{
		"status": "created", "build_id": b.ID, "number": b.Number, "ref": b.Ref, "commit_sha": b.CommitSHA,
		"url": h.baseURL(c) + "/builds/" + strconv.FormatInt(b.ID, 10),
	})
}

// verifyHook checks the delivery's signature or token against the
// project's secret in constant time and returns what is wrong, or "".
// GitHub (and Gitea, Forgejo) sign with X-Hub-Signature-256; Gitea and
// Forgejo also with a bare hex X-Gitea-/X-Forgejo-Signature; GitLab sends
// the secret itself as X-Gitlab-Token.
func verifyHook(hdr http.Header, body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	checkHex := func(name, v string) string {
		got, err := hex.DecodeString(strings.TrimSpace(v))
		if err != nil || !hmac.Equal(got, want) {
			return name + " does not match the project's webhook secret"
		}
		return ""
	}
	if v := hdr.Get("X-Hub-Signature-256"); v != "" {
		hexSig, ok := strings.CutPrefix(v, "sha256=")
		if !ok {
			return `X-Hub-Signature-256 must look like "sha256=<hex>"`
		}
		return checkHex("X-Hub-Signature-256", hexSig)
	}
	for _, name := range []string{"X-Gitea-Signature", "X-Forgejo-Signature", "X-Gogs-Signature"} {
		if v := hdr.Get(name); v != "" {
			return checkHex(name, v)
		}
	}
	if v := hdr.Get("X-Gitlab-Token"); v != "" {
		// Compare digests: equal lengths, so the time taken says nothing
		// about the secret's length either.
		got, exp := sha256.Sum256([]byte(v)), sha256.Sum256(secret)
		if subtle.ConstantTimeCompare(got[:], exp[:]) != 1 {
			return "X-Gitlab-Token does not match the project's webhook secret"
		}
		return ""
	}
	return "missing signature: configure the webhook with the project's secret (X-Hub-Signature-256, X-Gitea-Signature or X-Gitlab-Token)"
}

func firstHeader(hdr http.Header, names ...string) string {
	for _, n := range names {
		if v := strings.TrimSpace(hdr.Get(n)); v != "" {
			return v
		}
	}
	return ""
}

// deliveryKey fits a delivery ID into its column; long ones are hashed.
func deliveryKey(id string) string {
	if len(id) <= 128 {
		return id
	}
	sum := sha256.Sum256([]byte(id))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
