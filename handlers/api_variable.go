package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/slipway-ci/slipway/models"
)

// variableJSON is a variable as the API shows it. A secret's value is
// write-only: it never appears, only that it is set.
type variableJSON struct {
	Name      string    `json:"name"`
	Secret    bool      `json:"secret"`
	Value     *string   `json:"value,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
}

func toVariableJSON(v *models.EnvironmentVariable, withValue bool) variableJSON {
	out := variableJSON{Name: v.Name, Secret: v.Secret, UpdatedAt: v.UpdatedAt.UTC()}
	if withValue && !v.Secret {
		val := v.Value
		out.Value = &val
	}
	return out
}

// apiListVariables lists an environment's variables and secrets by name
// (GET …/variables): names, secret flags and update times, no values.
func (h *Handler) apiListVariables(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	vars, err := h.store.EnvironmentVariables(c.Request().Context(), env.ID)
	if err != nil {
		return err
	}
	out := make([]variableJSON, 0, len(vars))
	for i := range vars {
		out = append(out, toVariableJSON(&vars[i], false))
	}
	return c.JSON(http.StatusOK, map[string]any{"config_version": env.ConfigVersion, "variables": out})
}

// apiShowVariable shows one variable (GET …/variables/{name}): a plain
// variable's value included, a secret's never.
func (h *Handler) apiShowVariable(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	v, err := h.variableParam(c, env)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, toVariableJSON(v, true))
}

// variableRequest is the body of PUT …/variables/{name}.
type variableRequest struct {
	Value  *string `json:"value"`
	Secret bool    `json:"secret"`
}

// apiPutVariable creates or replaces a variable or secret (PUT
// …/variables/{name}): 201 when it is new, 200 when it replaced one.
func (h *Handler) apiPutVariable(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	var req variableRequest
	if err := bindJSON(c, &req); err != nil {
		return err
	}
	if req.Value == nil {
		return echo.NewHTTPError(http.StatusUnprocessableEntity, "value is required (an empty string is a value)")
	}
	name := c.Param("name")
	_, err = h.variableParam(c, env)
	var missing *echo.HTTPError
	created := errors.As(err, &missing)
	if err != nil && !created {
		return err
	}
	if err := h.putVariable(c, env, name, *req.Value, req.Secret); err != nil {
		var ve *variableError
		if errors.As(err, &ve) {
			return echo.NewHTTPError(http.StatusUnprocessableEntity, ve.msg)
		}
		return err
	}
	v, err := h.variableParam(c, env)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return c.JSON(status, toVariableJSON(v, true))
}

// apiDeleteVariable removes a variable or secret (DELETE
// …/variables/{name}): 204, or 404 when the environment has none of that
// name.
func (h *Handler) apiDeleteVariable(c echo.Context) error {
	env, err := h.environmentParam(c)
	if err != nil {
		return err
	}
	if err := h.removeVariable(c, env, c.Param("name")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// variableParam loads the :name variable of env; a missing one is a 404.
func (h *Handler) variableParam(c echo.Context, env *models.Environment) (*models.EnvironmentVariable, error) {
	name := c.Param("name")
	vars, err := h.store.EnvironmentVariables(c.Request().Context(), env.ID)
	if err != nil {
		return nil, err
	}
	for i := range vars {
		if vars[i].Name == name {
			return &vars[i], nil
		}
	}
	return nil, echo.NewHTTPError(http.StatusNotFound, "no variable "+name+" in "+env.Name)
}
