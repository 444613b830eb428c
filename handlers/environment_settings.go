package handlers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/internal/pipeline"
	"github.com/slipway-ci/slipway/models"
	"github.com/slipway-ci/slipway/views/pages"
)

var (
	envNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	varNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
)

// showEnvironmentSettings is the admin's settings page of an environment.
func (h *Handler) showEnvironmentSettings(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	vars, err := h.store.EnvironmentVariables(c.Request().Context(), env.ID)
	if err != nil {
		return err
	}
	p := pages.EnvironmentSettingsPage{Now: h.now(), CSRF: csrfToken(c), Project: env.Project.Slug, ProjectName: env.Project.Name,
		Name: env.Name, Target: env.Target, ScriptCommand: env.ScriptCommand, EdgeAddr: env.EdgeAddr,
		AutoDeployBranch: env.AutoDeployBranch, Protected: env.Protected, ConfigVersion: env.ConfigVersion, SecretsEnabled: h.secrets != nil,
		Instances: env.Instances, MaxInstances: models.MaxInstances}
	for _, v := range vars {
		vv := pages.VariableView{Name: v.Name, Secret: v.Secret, UpdatedAt: v.UpdatedAt}
		if !v.Secret {
			vv.Value = v.Value
		}
		p.Variables = append(p.Variables, vv)
	}
	return h.render(c, "Settings of "+env.Name, "environments", pages.EnvironmentSettings(p))
}

// updateEnvironment saves an environment's settings.
func (h *Handler) updateEnvironment(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	back := envPath(env) + "/settings"
	name := strings.TrimSpace(c.FormValue("name"))
	target := c.FormValue("target")
	addr := strings.TrimSpace(c.FormValue("edge_addr"))
	script := strings.TrimSpace(c.FormValue("script_command"))
	switch {
	case !envNameRE.MatchString(name):
		return h.redirectWith(c, back, "error", "The name must be 1–32 lower-case letters, digits or dashes, starting with a letter or digit.")
	case target != models.TargetProcess && target != models.TargetScript:
		return h.redirectWith(c, back, "error", "The target must be process or script.")
	case target == models.TargetScript && script == "":
		return h.redirectWith(c, back, "error", "The script target needs a deploy script.")
	}
	instances, err := parseInstances(c.FormValue("instances"), true)
	if err != nil {
		return h.redirectWith(c, back, "error", err.Error()+" Leave it empty to use app.instances of .slipway.yml.")
	}
	if addr != "" {
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return h.redirectWith(c, back, "error", "The edge address must be host:port, like 127.0.0.1:8081.")
		}
	}
	configChanged := target != env.Target || script != env.ScriptCommand
	before := environmentSettings(env)
	env.Name, env.Target, env.ScriptCommand, env.EdgeAddr = name, target, script, addr
	env.AutoDeployBranch = strings.TrimSpace(c.FormValue("auto_deploy_branch"))
	env.Protected = c.FormValue("protected") == "true"
	scale := instances != env.Instances && instances > 0 && target == models.TargetProcess
	env.Instances = instances
	changes := settingsChanges(before, environmentSettings(env))
	ctx := c.Request().Context()
	err = h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.UpdateEnvironment(ctx, env, configChanged); err != nil {
			return err
		}
		if scale {
			if err := h.jobs.EnqueueScale(ctx, tx, env.ID); err != nil {
				return err
			}
		}
		if len(changes) == 0 {
			return nil
		}
		return h.auditEnvironment(ctx, tx, c, models.AuditEnvUpdate, env, map[string]any{"changes": changes})
	})
	if errors.Is(err, models.ErrConflict) {
		return h.redirectWith(c, back, "error", "The project already has an environment called "+name+".")
	}
	if err != nil {
		return err
	}
	return h.redirectWith(c, envPath(env)+"/settings", "success", "Settings of "+env.Name+" saved. A new edge address takes effect at the next deploy.")
}

// setVariable creates or replaces a variable or secret.
func (h *Handler) setVariable(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	back := envPath(env) + "/settings"
	name := strings.TrimSpace(c.FormValue("name"))
	secret := c.FormValue("secret") == "true"
	if err := h.putVariable(c, env, name, c.FormValue("value"), secret); err != nil {
		var ve *variableError
		if errors.As(err, &ve) {
			return h.redirectWith(c, back, "error", ve.msg)
		}
		return err
	}
	word := "Variable"
	if secret {
		word = "Secret"
	}
	return h.redirectWith(c, back, "success", word+" "+name+" set; the next deploy uses it.")
}

// deleteVariable removes a variable or secret.
func (h *Handler) deleteVariable(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	name := c.FormValue("name")
	if err := h.removeVariable(c, env, name); err != nil {
		return err
	}
	return h.redirectWith(c, envPath(env)+"/settings", "success", name+" removed; the next deploy runs without it.")
}

// variableError is a variable the user may not set, with the message to
// show (a flash on the settings page, a 422 in the API).
type variableError struct{ msg string }

func (e *variableError) Error() string { return e.msg }

// checkVariableName applies the rules for a variable's name, the same in
// the settings page and the API.
func checkVariableName(name string) error {
	if !varNameRE.MatchString(name) {
		return &variableError{"A variable name is letters, digits and underscores, not starting with a digit."}
	}
	if why := pipeline.ReservedAppEnv(name); why != "" {
		return &variableError{name + " is reserved: " + why + "."}
	}
	return nil
}

// putVariable creates or replaces a variable (or a secret, sealed) and
// audits the change in the same transaction, without its value.
func (h *Handler) putVariable(c echo.Context, env *models.Environment, name, value string, secret bool) error {
	if err := checkVariableName(name); err != nil {
		return err
	}
	v := &models.EnvironmentVariable{EnvironmentID: env.ID, Name: name, Secret: secret}
	if v.Secret {
		if h.secrets == nil {
			return &variableError{"Secrets need the portal's secret key, and none is configured."}
		}
		v.ValueSealed = h.secrets.Seal([]byte(value), models.SecretAD(env.ID, name))
	} else {
		v.Value = value
	}
	ctx := c.Request().Context()
	return h.store.Tx(ctx, func(tx *models.Store) error {
		if err := tx.SetEnvironmentVariable(ctx, v); err != nil {
			return err
		}
		action := models.AuditVariableSet
		if v.Secret {
			action = models.AuditSecretSet
		}
		// Values stay out of the audit trail: a plain variable may still
		// be sensitive, and the chain can never be edited.
		return h.auditEnvironment(ctx, tx, c, action, env, map[string]any{"name": name})
	})
}

// removeVariable deletes a variable or secret and audits it; a name the
// environment does not have is a 404.
func (h *Handler) removeVariable(c echo.Context, env *models.Environment, name string) error {
	ctx := c.Request().Context()
	err := h.store.Tx(ctx, func(tx *models.Store) error {
		vars, err := tx.EnvironmentVariables(ctx, env.ID)
		if err != nil {
			return err
		}
		if err := tx.DeleteEnvironmentVariable(ctx, env.ID, name); err != nil {
			return err
		}
		action := models.AuditVariableSet
		for _, v := range vars {
			if v.Name == name && v.Secret {
				action = models.AuditSecretSet
			}
		}
		return h.auditEnvironment(ctx, tx, c, action, env, map[string]any{"name": name, "removed": true})
	})
	if errors.Is(err, models.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no variable "+name+" in "+env.Name)
	}
	return err
}

// auditEnvironment records a change to an environment; details gain the
// project and environment names.
func (h *Handler) auditEnvironment(ctx context.Context, tx *models.Store, c echo.Context, action string, env *models.Environment, details map[string]any) error {
	details["project"] = env.Project.Slug
	details["environment"] = env.Name
	return h.audit(ctx, tx, c, action, "environment", env.ID, details)
}

// environmentSettings are the audited settings of an environment, by form
// field name.
func environmentSettings(env *models.Environment) map[string]any {
	return map[string]any{
		"name": env.Name, "target": env.Target, "script_command": env.ScriptCommand,
		"edge_addr": env.EdgeAddr, "auto_deploy_branch": env.AutoDeployBranch, "protected": env.Protected,
		"instances": env.Instances,
	}
}

// settingsChanges lists the settings that differ as {"field": [old, new]}.
func settingsChanges(before, after map[string]any) map[string]any {
	changes := map[string]any{}
	for k, v := range after {
		if before[k] != v {
			changes[k] = []any{before[k], v}
		}
	}
	return changes
}
