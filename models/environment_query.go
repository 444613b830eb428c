package models

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// DefaultEnvironments are the environments every new project starts with,
// in promotion order.
var DefaultEnvironments = []string{"dev", "staging", "production"}

// CreateDefaultEnvironments gives a new project its dev → staging →
// production chain: dev auto-deploys defaultBranch, production is
// protected (one approval from a lead or admin). Call it on the Store of
// the transaction that creates the project.
func (s *Store) CreateDefaultEnvironments(ctx context.Context, projectID int64, defaultBranch string) error {
	now := time.Now().UTC()
	envs := []Environment{
		{ProjectID: projectID, Name: "dev", Position: 1, AutoDeployBranch: defaultBranch},
		{ProjectID: projectID, Name: "staging", Position: 2},
		{ProjectID: projectID, Name: "production", Position: 3, Protected: true, ApprovalsRequired: 1, ApproverRoles: "lead,admin"},
	}
	for i := range envs {
		e := &envs[i]
		e.Target, e.ConfigVersion, e.FreezeWindows, e.CreatedAt, e.UpdatedAt = TargetProcess, 1, "[]", now, now
		if err := s.db.WithContext(ctx).Omit("Project").Create(e).Error; err != nil {
			return wrap("create default environments", err)
		}
	}
	return nil
}

// CreateEnvironment adds e at the end of its project's chain; a taken name
// returns ErrConflict.
func (s *Store) CreateEnvironment(ctx context.Context, e *Environment) error {
	return s.Tx(ctx, func(tx *Store) error {
		var maxPos *int
		if err := tx.db.WithContext(ctx).Model(&Environment{}).Where("project_id = ?", e.ProjectID).
			Select("MAX(position)").Scan(&maxPos).Error; err != nil {
			return wrap("create environment", err)
		}
		e.Position = 1
		if maxPos != nil {
			e.Position = *maxPos + 1
		}
		if e.Target == "" {
			e.Target = TargetProcess
		}
		if e.FreezeWindows == "" {
			e.FreezeWindows = "[]"
		}
		e.ConfigVersion = 1
		return wrap("create environment", tx.db.WithContext(ctx).Omit("Project").Create(e).Error)
	})
}

// Environment returns the environment with id, with its project.
func (s *Store) Environment(ctx context.Context, id int64) (*Environment, error) {
	var e Environment
	if err := s.db.WithContext(ctx).Preload("Project").First(&e, id).Error; err != nil {
		return nil, wrap("environment", err)
	}
	return &e, nil
}

// EnvironmentByName returns the environment name of the project with slug.
func (s *Store) EnvironmentByName(ctx context.Context, slug, name string) (*Environment, error) {
	var e Environment
	err := s.db.WithContext(ctx).Preload("Project").
		Joins("JOIN projects ON projects.id = environments.project_id").
		Where("projects.slug = ? AND environments.name = ?", slug, name).First(&e).Error
	if err != nil {
		return nil, wrap("environment by name", err)
	}
	return &e, nil
}

// ProjectEnvironments returns the project with slug and its environments
// in promotion order.
func (s *Store) ProjectEnvironments(ctx context.Context, slug string) (*Project, []Environment, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("slug = ?", slug).First(&p).Error; err != nil {
		return nil, nil, wrap("project environments", err)
	}
	var es []Environment
	if err := s.db.WithContext(ctx).Where("project_id = ?", p.ID).Order("position, id").Find(&es).Error; err != nil {
		return nil, nil, wrap("project environments", err)
	}
	for i := range es {
		es[i].Project = p
	}
	return &p, es, nil
}

// AllEnvironments lists every project's environments, by project name then
// position, with their projects.
func (s *Store) AllEnvironments(ctx context.Context) ([]Environment, error) {
	var es []Environment
	err := s.db.WithContext(ctx).Preload("Project").
		Joins("JOIN projects ON projects.id = environments.project_id").
		Order("projects.name, projects.slug, environments.position, environments.id").Find(&es).Error
	return es, wrap("all environments", err)
}

// UpdateEnvironment saves an environment's settings: name, target, script
// command, edge address, auto-deploy branch and protection. configChanged
// bumps the configuration version (a target change is one).
func (s *Store) UpdateEnvironment(ctx context.Context, e *Environment, configChanged bool) error {
	e.UpdatedAt = time.Now().UTC()
	fields := map[string]any{
		"name":               e.Name,
		"target":             e.Target,
		"script_command":     e.ScriptCommand,
		"edge_addr":          e.EdgeAddr,
		"auto_deploy_branch": e.AutoDeployBranch,
		"protected":          e.Protected,
		"instances":          e.Instances,
		"updated_at":         e.UpdatedAt,
	}
	if configChanged {
		fields["config_version"] = gorm.Expr("config_version + 1")
	}
	res := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", e.ID).Updates(fields)
	if res.Error != nil {
		return wrap("update environment", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("update environment", gorm.ErrRecordNotFound)
	}
	if configChanged {
		e.ConfigVersion++
	}
	return nil
}

// SetEnvironmentEdgeAddr records the address the environment's edge
// listens on.
func (s *Store) SetEnvironmentEdgeAddr(ctx context.Context, id int64, addr string) error {
	err := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", id).Update("edge_addr", addr).Error
	return wrap("set environment edge address", err)
}

// MaxInstances bounds an environment's instances (see Environment.Instances).
const MaxInstances = 16

// SetEnvironmentInstances sets how many instances the environment runs
// (0 to MaxInstances; see Environment.Instances).
func (s *Store) SetEnvironmentInstances(ctx context.Context, id int64, n int) error {
	if n < 0 || n > MaxInstances {
		return fmt.Errorf("models: set environment instances: %d is not between 1 and %d", n, MaxInstances)
	}
	res := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", id).
		Updates(map[string]any{"instances": n, "updated_at": time.Now().UTC()})
	if res.Error != nil {
		return wrap("set environment instances", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("set environment instances", gorm.ErrRecordNotFound)
	}
	return nil
}

// MoveEnvironment swaps the environment with its neighbour in the chain:
// up (delta < 0) or down (delta > 0). At either end it does nothing.
func (s *Store) MoveEnvironment(ctx context.Context, id int64, delta int) error {
	return s.Tx(ctx, func(tx *Store) error {
		var e Environment
		if err := tx.db.WithContext(ctx).First(&e, id).Error; err != nil {
			return wrap("move environment", err)
		}
		q := tx.db.WithContext(ctx).Where("project_id = ? AND id <> ?", e.ProjectID, e.ID)
		if delta < 0 {
			q = q.Where("position <= ?", e.Position).Order("position DESC, id DESC")
		} else {
			q = q.Where("position >= ?", e.Position).Order("position, id")
		}
		var other Environment
		err := q.First(&other).Error
		if err == gorm.ErrRecordNotFound {
			return nil
		}
		if err != nil {
			return wrap("move environment", err)
		}
		a, b := e.Position, other.Position
		if a == b { // equal positions: make room so the swap means something
			if delta < 0 {
				a++
			} else {
				b++
			}
		}
		if err := tx.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", e.ID).Update("position", b).Error; err != nil {
			return wrap("move environment", err)
		}
		return wrap("move environment", tx.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", other.ID).Update("position", a).Error)
	})
}

// DeleteEnvironment removes an environment with its variables and release
// history.
func (s *Store) DeleteEnvironment(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&Environment{}, id)
	if res.Error != nil {
		return wrap("delete environment", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("delete environment", gorm.ErrRecordNotFound)
	}
	return nil
}

// PauseAutoDeploy stops auto-deploys into the environment, saying why.
func (s *Store) PauseAutoDeploy(ctx context.Context, id int64, reason string) error {
	err := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", id).
		Updates(map[string]any{"auto_deploy_paused": true, "auto_deploy_paused_reason": reason}).Error
	return wrap("pause auto-deploy", err)
}

// ResumeAutoDeploy lets auto-deploys into the environment run again.
func (s *Store) ResumeAutoDeploy(ctx context.Context, id int64) error {
	err := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", id).
		Updates(map[string]any{"auto_deploy_paused": false, "auto_deploy_paused_reason": ""}).Error
	return wrap("resume auto-deploy", err)
}

// AutoDeployEnvironments lists the project's environments that auto-deploy
// branch, paused ones included (the caller reports those).
func (s *Store) AutoDeployEnvironments(ctx context.Context, projectID int64, branch string) ([]Environment, error) {
	var es []Environment
	err := s.db.WithContext(ctx).Preload("Project").Where("project_id = ? AND auto_deploy_branch = ?", projectID, branch).
		Order("position, id").Find(&es).Error
	return es, wrap("auto-deploy environments", err)
}

// EnvironmentVariables lists an environment's variables by name.
func (s *Store) EnvironmentVariables(ctx context.Context, envID int64) ([]EnvironmentVariable, error) {
	var vs []EnvironmentVariable
	err := s.db.WithContext(ctx).Where("environment_id = ?", envID).Order("name").Find(&vs).Error
	return vs, wrap("environment variables", err)
}

// SetEnvironmentVariable creates or replaces the variable v.Name of
// v.EnvironmentID and bumps the environment's configuration version.
func (s *Store) SetEnvironmentVariable(ctx context.Context, v *EnvironmentVariable) error {
	return s.Tx(ctx, func(tx *Store) error {
		now := time.Now().UTC()
		var old EnvironmentVariable
		err := tx.db.WithContext(ctx).Where("environment_id = ? AND name = ?", v.EnvironmentID, v.Name).First(&old).Error
		switch {
		case err == nil:
			v.ID, v.CreatedAt, v.UpdatedAt = old.ID, old.CreatedAt, now
			err = tx.db.WithContext(ctx).Model(&EnvironmentVariable{}).Where("id = ?", old.ID).Updates(map[string]any{
				"value": v.Value, "secret": v.Secret, "value_sealed": v.ValueSealed, "updated_at": now,
			}).Error
		case err == gorm.ErrRecordNotFound:
			v.ID, v.CreatedAt, v.UpdatedAt = 0, now, now
			err = tx.db.WithContext(ctx).Create(v).Error
		}
		if err != nil {
			return wrap("set environment variable", err)
		}
		return tx.bumpConfig(ctx, v.EnvironmentID)
	})
}

// DeleteEnvironmentVariable removes a variable and bumps the environment's
// configuration version.
func (s *Store) DeleteEnvironmentVariable(ctx context.Context, envID int64, name string) error {
	return s.Tx(ctx, func(tx *Store) error {
		res := tx.db.WithContext(ctx).Where("environment_id = ? AND name = ?", envID, name).Delete(&EnvironmentVariable{})
		if res.Error != nil {
			return wrap("delete environment variable", res.Error)
		}
		if res.RowsAffected == 0 {
			return wrap("delete environment variable", gorm.ErrRecordNotFound)
		}
		return tx.bumpConfig(ctx, envID)
	})
}

func (s *Store) bumpConfig(ctx context.Context, envID int64) error {
	err := s.db.WithContext(ctx).Model(&Environment{}).Where("id = ?", envID).Updates(map[string]any{
		"config_version": gorm.Expr("config_version + 1"), "updated_at": time.Now().UTC(),
	}).Error
	return wrap("bump config version", err)
}
