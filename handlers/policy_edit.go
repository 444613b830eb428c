package handlers

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/auth"
	"github.com/slipway-ci/slipway/internal/delivery"
	"github.com/slipway-ci/slipway/internal/policy"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

// approverRoles are the roles that can approve at all: those holding the
// approve permission.
func approverRoles() []string {
	var out []string
	for _, r := range auth.Roles {
		if auth.Can(r, auth.Approve) {
			out = append(out, string(r))
		}
	}
	return out
}

// policyPage fills the form from a policy.
func (h *Handler) policyPage(c echo.Context, env *models.Environment, pol policy.Policy, windows, errMsg string) pages.PolicyPage {
	v := pages.PolicyPage{CSRF: csrfToken(c), Project: env.Project.Slug, Env: env.Name, Protected: pol.Protected,
		ApprovalsRequired: pol.ApprovalsRequired, AllowSelfApproval: pol.AllowSelfApproval, RequireLoadTest: pol.RequireLoadTest,
		FreezeWindows: windows, Error: errMsg}
	for _, r := range approverRoles() {
		v.Roles = append(v.Roles, pages.RoleChoice{Role: r, Checked: slices.Contains(pol.ApproverRoles, r)})
	}
	if f, ok := policy.ActiveFreeze(pol.Freeze, h.now()); ok {
		v.ActiveFreeze = f.Describe()
	}
	return v
}

// showPolicy is an environment's policy form.
func (h *Handler) showPolicy(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	pol, err := delivery.PolicyOf(env)
	if err != nil {
		return err
	}
	return h.render(c, "Policy of "+env.Name, "environments", pages.Policy(h.policyPage(c, env, pol, policy.FormatWindows(pol.Freeze), "")))
}

// savePolicy validates and stores a policy, with its audit event.
func (h *Handler) savePolicy(c echo.Context, env *models.Environment, pol policy.Policy) error {
	if err := pol.Validate(approverRoles()); err != nil {
		return badRequest(err.Error())
	}
	ctx := c.Request().Context()
	old, err := delivery.PolicyOf(env)
	if err != nil {
		return err
	}
	s := pol.Settings()
	env.Protected, env.ApprovalsRequired, env.ApproverRoles = s.Protected, s.ApprovalsRequired, s.ApproverRoles
	env.AllowSelfApproval, env.RequireLoadTest, env.FreezeWindows = s.AllowSelfApproval, s.RequireLoadTest, s.FreezeWindows
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.UpdateEnvironmentPolicy(ctx, env); err != nil {
			return err
		}
		return h.audit(ctx, tx, c, models.AuditPolicyUpdate, "environment", env.ID, map[string]any{
			"project": env.Project.Slug, "environment": env.Name, "before": policyDetails(old), "after": policyDetails(pol),
		})
	})
	if err != nil {
		return err
	}
	// A looser policy may let waiting promotions through now.
	if _, err := h.delivery.Sweep(ctx); err != nil {
		h.log.Warn("promotion sweep after a policy change", "err", err)
	}
	return nil
}

func policyDetails(p policy.Policy) map[string]any {
	return map[string]any{"protected": p.Protected, "approvals_required": p.ApprovalsRequired, "approver_roles": p.ApproverRoles,
		"allow_self_approval": p.AllowSelfApproval, "require_load_test": p.RequireLoadTest, "freeze_windows": policy.FormatWindows(p.Freeze)}
}

// updatePolicy saves the policy form.
func (h *Handler) updatePolicy(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	form, err := c.FormParams()
	if err != nil {
		return badRequest("unreadable form")
	}
	pol := policy.Policy{Env: env.Name, Protected: form.Get("protected") != "", AllowSelfApproval: form.Get("allow_self_approval") != "",
		RequireLoadTest: form.Get("require_load_test") != "", ApproverRoles: policy.SplitRoles(strings.Join(form["approver_roles"], ","))}
	text := form.Get("freeze_windows")
	fail := func(msg string) error {
		return h.renderStatus(c, http.StatusUnprocessableEntity, "Policy of "+env.Name, "environments", pages.Policy(h.policyPage(c, env, pol, text, msg)))
	}
	n, err := strconv.Atoi(strings.TrimSpace(form.Get("approvals_required")))
	if err != nil {
		return fail("approvals needed must be a whole number")
	}
	pol.ApprovalsRequired = n
	if pol.Freeze, err = policy.ParseWindows(text); err != nil {
		return fail(err.Error())
	}
	if err := pol.Validate(approverRoles()); err != nil {
		return fail(err.Error())
	}
	if err := h.savePolicy(c, env, pol); err != nil {
		return err
	}
	return h.redirectWith(c, models.Path("projects", env.Project.Slug, "environments", env.Name, "policy"), "success", "The policy of "+env.Name+" is saved.")
}

// policyJSON is an environment's policy in the API.
type policyJSON struct {
	Protected         bool     `json:"protected"`
	ApprovalsRequired int      `json:"approvals_required"`
	ApproverRoles     []string `json:"approver_roles"`
	AllowSelfApproval bool     `json:"allow_self_approval"`
	RequireLoadTest   bool     `json:"require_load_test"`
	// FreezeWindows are in the one-line form of the policy page.
	FreezeWindows []string `json:"freeze_windows"`
}

func toPolicyJSON(p policy.Policy) policyJSON {
	out := policyJSON{Protected: p.Protected, ApprovalsRequired: p.ApprovalsRequired, ApproverRoles: p.Roles(),
		AllowSelfApproval: p.AllowSelfApproval, RequireLoadTest: p.RequireLoadTest, FreezeWindows: []string{}}
	for _, w := range p.Freeze {
		out.FreezeWindows = append(out.FreezeWindows, w.String())
	}
	return out
}

// apiPolicy is GET /api/v1/projects/:slug/environments/:env/policy.
func (h *Handler) apiPolicy(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	pol, err := delivery.PolicyOf(env)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPolicyJSON(pol))
}

// apiUpdatePolicy is PUT /api/v1/projects/:slug/environments/:env/policy:
// the fields sent replace theirs; the others stay as they are.
func (h *Handler) apiUpdatePolicy(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	cur, err := delivery.PolicyOf(env)
	if err != nil {
		return err
	}
	// Decoding over the current policy: a field the request leaves out
	// keeps its value, so a partial body never unprotects by accident.
	req := toPolicyJSON(cur)
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	pol := policy.Policy{Env: env.Name, Protected: req.Protected, ApprovalsRequired: req.ApprovalsRequired,
		ApproverRoles: policy.SplitRoles(strings.Join(req.ApproverRoles, ",")), AllowSelfApproval: req.AllowSelfApproval, RequireLoadTest: req.RequireLoadTest}
	if pol.Freeze, err = policy.ParseWindows(strings.Join(req.FreezeWindows, "\n")); err != nil {
		return badRequest(err.Error())
	}
	if err := h.savePolicy(c, env, pol); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toPolicyJSON(pol))
}
