package handlers

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/gitrepo"
	"github.com/slipway-ci/slipway/jobs"
	"github.com/slipway-ci/slipway/models"
)

const (
	// maxHookBody is the largest webhook payload accepted: 25 MiB, GitHub's
	// own cap (a push of thousands of commits runs to several MB). The
	// body is streamed through the signature check and a token reader, so
	// its size costs time, not memory.
	maxHookBody = 25 << 20
	// DuplicatePushWindow is how long a push of a commit to a branch or tag
	// that was already built is answered "duplicate" instead of building
	// it again: the same push delivered twice under new delivery IDs (a
	// webhook configured twice, a forge that retries with a new ID, polling
	// and a webhook both on) builds once.
	DuplicatePushWindow = 10 * time.Minute
)

var (
	shaRE     = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)
	zeroSHARE = regexp.MustCompile(`^0+$`)
)

// receiveHook handles a forge's webhook delivery. The order matters: the
// signature is checked over the raw bytes before anything parsed from them
// is acted on, the payload is validated before its delivery ID is
// recorded (a refused delivery can be redelivered), and the delivery is
// de-duplicated before it can start a build.
func (h *Handler) receiveHook(c echo.Context) error {
	ctx := c.Request().Context()
	p, err := h.store.ProjectBySlug(ctx, c.Param("slug"))
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no project called “"+c.Param("slug")+"”")
	}
	if err != nil {
		return err
	}
	req := c.Request()
	if req.ContentLength > maxHookBody {
		return hookTooLarge()
	}
	secret, err := h.webhookSecret(p)
	if err != nil {
		return err
	}
	hdr := req.Header
	event := firstHeader(hdr, "X-GitHub-Event", "X-Gitea-Event", "X-Forgejo-Event", "X-Gogs-Event", "X-Gitlab-Event")
	isPush := false
	switch event {
	case "push", "Push Hook", "Tag Push Hook":
		isPush = true
	}

	// One pass over the body: every byte goes through the HMAC; a push's
	// few fields are picked out on the way.
	mac := hmac.New(sha256.New, secret)
	limited := &io.LimitedReader{R: req.Body, N: maxHookBody + 1}
	tee := io.TeeReader(limited, mac)
	var push pushPayload
	var parseErr error
	if isPush {
		push, parseErr = parsePush(hookJSON(hdr.Get(echo.HeaderContentType), tee))
	}
	if _, err := io.Copy(io.Discard, tee); err != nil {
		var he *echo.HTTPError
		if errors.As(err, &he) {
			return he
		}
		return badRequest("could not read the request body")
	}
	if limited.N <= 0 {
		return hookTooLarge()
	}
	if msg := verifyHook(hdr, mac, secret); msg != "" {
		return echo.NewHTTPError(http.StatusUnauthorized, msg)
	}

	delivery := firstHeader(hdr, "X-GitHub-Delivery", "X-Gitea-Delivery", "X-Forgejo-Delivery", "X-Gogs-Delivery",
		"Idempotency-Key", "X-Gitlab-Event-UUID")
	if !isPush {
		if _, dup, err := h.recordDelivery(c, p, delivery, event); err != nil || dup {
			return err
		}
		if event == "ping" {
			return c.JSON(http.StatusOK, map[string]string{"status": "ok", "project": p.Slug})
		}
		return c.JSON(http.StatusAccepted, map[string]string{"status": "ignored", "reason": "only push events start builds", "event": event})
	}

	// Validation first: a refused payload leaves no trace, so the forge's
	// Redeliver of the same delivery ID is handled afresh.
	switch {
	case errors.Is(parseErr, errNoPayloadField):
		return badRequest("invalid form body: " + parseErr.Error() + " (GitHub sends the JSON event as payload=…)")
	case parseErr != nil:
		return badRequest("invalid JSON body: " + jsonErrorText(parseErr))
	case push.Ref == "":
		return badRequest(`invalid push event: "ref" is missing`)
	}
	if err := gitrepo.CheckRefFormat(push.Ref); err != nil {
		return badRequest("invalid push event: " + err.Error())
	}
	refType, short := jobs.RefBranch, strings.TrimPrefix(push.Ref, "refs/heads/")
	if strings.HasPrefix(push.Ref, "refs/tags/") {
		refType, short = jobs.RefTag, strings.TrimPrefix(push.Ref, "refs/tags/")
	}
	switch {
	case !strings.HasPrefix(push.Ref, "refs/heads/") && !strings.HasPrefix(push.Ref, "refs/tags/"):
		return c.JSON(http.StatusAccepted, map[string]string{"status": "ignored", "reason": "not a branch or tag: " + push.Ref})
	case push.Deleted || zeroSHARE.MatchString(push.After):
		return c.JSON(http.StatusAccepted, map[string]string{"status": "ignored", "reason": "deleted " + push.Ref})
	case !shaRE.MatchString(push.After):
		return badRequest(`invalid push event: "after" is not a commit SHA`)
	}

	h.recordPushSightings(ctx, p, push)
	rec, dup, err := h.recordDelivery(c, p, delivery, event)
	if err != nil || dup {
		return err
	}
	built := false
	defer func() {
		if !built && rec != nil {
			// Whatever refused it, let a redelivery be handled again.
			if ferr := h.store.ForgetWebhookDelivery(ctx, rec.ID); ferr != nil {
				h.log.Warn("forget webhook delivery", "project", p.Slug, "err", ferr)
			}
		}
	}()

	// The same commit of the same ref within the window builds once; the
	// lock makes the check and the build one step within this process.
	unlock := h.pushes.lock(fmt.Sprintf("%d\x00%s\x00%s", p.ID, push.Ref, push.After))
	defer unlock()
	prev, err := h.store.RecentBuildOfCommit(ctx, p.ID, refType, short, push.After, h.now().Add(-DuplicatePushWindow))
	switch {
	case err == nil:
		built = true // handled: keep the delivery ID
		if rec != nil {
			if err := h.store.SetWebhookDeliveryBuild(ctx, rec.ID, prev.ID); err != nil {
				h.log.Warn("link webhook delivery", "project", p.Slug, "build", prev.ID, "err", err)
			}
		}
		return c.JSON(http.StatusOK, map[string]any{
			"status": "duplicate", "build_id": prev.ID, "number": prev.Number,
			"reason": fmt.Sprintf("%s was built from commit %s %s ago (build #%d); a push of the same commit within %s builds once",
				push.Ref, models.ShortSHA(push.After), h.now().Sub(prev.CreatedAt).Round(time.Second), prev.Number, DuplicatePushWindow),
			"url": h.baseURL(c) + "/builds/" + strconv.FormatInt(prev.ID, 10),
		})
	case !errors.Is(err, models.ErrNotFound):
		return err
	}

	b, err := h.jobs.CreateBuild(ctx, h.store, jobs.CreateBuildRequest{Project: p, Ref: push.Ref, CommitSHA: push.After, Trigger: jobs.TriggerWebhook})
	if status, msg, ok := createBuildError(err); ok {
		return echo.NewHTTPError(status, "cannot build "+push.Ref+": "+msg).WithInternal(err)
	}
	if err != nil {
		return err
	}
	built = true
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

// recordDelivery remembers a delivery ID; dup is set (and the answer
// written) when it was seen before. No ID records nothing.
func (h *Handler) recordDelivery(c echo.Context, p *models.Project, delivery, event string) (*models.WebhookDelivery, bool, error) {
	if delivery == "" {
		return nil, false, nil
	}
	rec := &models.WebhookDelivery{ProjectID: p.ID, DeliveryID: deliveryKey(delivery), Event: truncate(event, 64)}
	err := h.store.RecordWebhookDelivery(c.Request().Context(), rec)
	if errors.Is(err, models.ErrConflict) {
		return nil, true, c.JSON(http.StatusOK, map[string]string{"status": "duplicate", "delivery": delivery})
	}
	if err != nil {
		return nil, false, err
	}
	return rec, false, nil
}

func hookTooLarge() error {
	return echo.NewHTTPError(http.StatusRequestEntityTooLarge, "payload too large: webhook payloads are limited to 25 MiB (GitHub's own limit)")
}

// verifyHook checks the delivery's signature or token against the
// project's secret in constant time and returns what is wrong, or "".
// mac has hashed the whole body with the secret. GitHub (and Gitea,
// Forgejo) sign with X-Hub-Signature-256; Gitea and Forgejo also with a
// bare hex X-Gitea-/X-Forgejo-Signature; GitLab sends the secret itself as
// X-Gitlab-Token.
func verifyHook(hdr http.Header, mac hash.Hash, secret []byte) string {
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

// keyedLocks serializes work on one key (a project's ref and commit).
type keyedLocks struct {
	mu    sync.Mutex
	locks map[string]*keyedLock
}

type keyedLock struct {
	sync.Mutex
	users int
}

func newKeyedLocks() *keyedLocks { return &keyedLocks{locks: map[string]*keyedLock{}} }

// lock takes key's lock and returns its release.
func (k *keyedLocks) lock(key string) func() {
	k.mu.Lock()
	l := k.locks[key]
	if l == nil {
		l = &keyedLock{}
		k.locks[key] = l
	}
	l.users++
	k.mu.Unlock()
	l.Lock()
	return func() {
		l.Unlock()
		k.mu.Lock()
		if l.users--; l.users == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
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
