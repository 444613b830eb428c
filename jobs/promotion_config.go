package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/slipway-ci/slipway/models"
)

// How a variable compares between two releases.
const (
	ConfigSame      = "same"
	ConfigDiffers   = "differs"
	ConfigOnlyLeft  = "only-left"
	ConfigOnlyRight = "only-right"
	// ConfigUnknown: a secret on both sides, but no key to compare them.
	ConfigUnknown = "unknown"
)

// ConfigRow is one variable compared between two releases. Secret values
// never leave this package: for a secret only the comparison is given.
type ConfigRow struct {
	Name   string
	Secret bool
	// Left and Right are the plain values ("" for secrets and for the
	// side that lacks the variable).
	Left, Right string
	Status      string
}

// CompareConfig compares the configuration two releases ran with (nil is
// a side with no release). Secrets are compared by value inside the
// portal and reported only as same or differs.
func (j *Jobs) CompareConfig(left, right *models.Release) ([]ConfigRow, error) {
	l, err := j.releaseConfig(left)
	if err != nil {
		return nil, err
	}
	r, err := j.releaseConfig(right)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for n := range l {
		names[n] = true
	}
	for n := range r {
		names[n] = true
	}
	rows := make([]ConfigRow, 0, len(names))
	for n := range names {
		a, inL := l[n]
		b, inR := r[n]
		row := ConfigRow{Name: n, Secret: a.secret || b.secret}
		if !a.secret {
			row.Left = a.value
		}
		if !b.secret {
			row.Right = b.value
		}
		switch {
		case !inR:
			row.Status = ConfigOnlyLeft
		case !inL:
			row.Status = ConfigOnlyRight
		case a.secret != b.secret:
			row.Status = ConfigDiffers
		case a.secret && (!a.known || !b.known):
			row.Status = ConfigUnknown
		case a.value == b.value:
			row.Status = ConfigSame
		default:
			row.Status = ConfigDiffers
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, k int) bool { return rows[i].Name < rows[k].Name })
	return rows, nil
}

type configValue struct {
	value  string
	secret bool
	known  bool // the secret's value could be opened
}

func (j *Jobs) releaseConfig(rel *models.Release) (map[string]configValue, error) {
	out := map[string]configValue{}
	if rel == nil {
		return out, nil
	}
	var summary []models.ConfigEntry
	if rel.ConfigSummary != "" {
		if err := json.Unmarshal([]byte(rel.ConfigSummary), &summary); err != nil {
			return nil, fmt.Errorf("jobs: configuration of release #%d: %w", rel.ID, err)
		}
	}
	secrets := map[string]string{}
	opened := false
	if len(rel.ConfigSealed) > 0 && j.deps.Secrets != nil {
		plain, err := j.deps.Secrets.Open(rel.ConfigSealed, models.ReleaseSecretsAD(rel.EnvironmentID))
		if err == nil && json.Unmarshal(plain, &secrets) == nil {
			opened = true
		}
	}
	for _, e := range summary {
		if e.Secret {
			v, ok := secrets[e.Name]
			out[e.Name] = configValue{value: v, secret: true, known: opened && ok}
			continue
		}
		out[e.Name] = configValue{value: e.Value}
	}
	return out, nil
}

// ConfigCandidate is the configuration a deploy into env would take now,
// as an unsaved release (its variables, sealed secrets and version), for
// comparing with CompareConfig.
func (j *Jobs) ConfigCandidate(ctx context.Context, env *models.Environment) (*models.Release, error) {
	r := &models.Release{EnvironmentID: env.ID}
	err := j.deps.Store.Tx(ctx, func(tx *models.Store) error { return j.takeConfig(ctx, tx, env.ID, r) })
	if err != nil {
		return nil, fmt.Errorf("jobs: configuration candidate: %w", err)
	}
	return r, nil
}

// takeConfig sets r's configuration to environment envID's current one:
// its version, and its variables and secrets sealed as a snapshot. A
// deploy and the promotion page's candidate both take it here, so what the
// page shows is what a deploy would run with.
func (j *Jobs) takeConfig(ctx context.Context, tx *models.Store, envID int64, r *models.Release) error {
	cur, err := tx.Environment(ctx, envID)
	if err != nil {
		return err
	}
	vars, err := tx.EnvironmentVariables(ctx, envID)
	if err != nil {
		return err
	}
	r.ConfigVersion = cur.ConfigVersion
	r.ConfigSummary, r.ConfigSealed, err = j.snapshotConfig(envID, vars)
	return err
}
