package models

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// CreateProject inserts p; a taken slug returns ErrConflict.
func (s *Store) CreateProject(ctx context.Context, p *Project) error {
	if p.NextBuildNumber == 0 {
		p.NextBuildNumber = 1
	}
	return wrap("create project", s.db.WithContext(ctx).Create(p).Error)
}

// Project returns the project with id.
func (s *Store) Project(ctx context.Context, id int64) (*Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).First(&p, id).Error; err != nil {
		return nil, wrap("project", err)
	}
	return &p, nil
}

// ProjectBySlug returns the project called slug.
func (s *Store) ProjectBySlug(ctx context.Context, slug string) (*Project, error) {
	var p Project
	if err := s.db.WithContext(ctx).Where("slug = ?", slug).First(&p).Error; err != nil {
		return nil, wrap("project by slug", err)
	}
	return &p, nil
}

// Projects lists every project by name.
func (s *Store) Projects(ctx context.Context) ([]Project, error) {
	var ps []Project
	err := s.db.WithContext(ctx).Order("name, slug").Find(&ps).Error
	return ps, wrap("projects", err)
}

// UpdateProject saves a project's editable settings: name, repository URL,
// default branch, deploy key and poll interval. The slug, the webhook
// secret and the build counter are not touched.
func (s *Store) UpdateProject(ctx context.Context, p *Project) error {
	p.UpdatedAt = time.Now().UTC()
	res := s.db.WithContext(ctx).Model(&Project{}).Where("id = ?", p.ID).Updates(map[string]any{
		"name":              p.Name,
		"repo_url":          p.RepoURL,
		"default_branch":    p.DefaultBranch,
		"deploy_key_sealed": p.DeployKeySealed,
		"poll_interval":     p.PollInterval,
		"updated_at":        p.UpdatedAt,
	})
	if res.Error != nil {
		return wrap("update project", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("update project", gorm.ErrRecordNotFound)
	}
	return nil
}

// SetBranchProtection saves a project's push policy for its default
// branch (see Project.ProtectDefaultBranch).
func (s *Store) SetBranchProtection(ctx context.Context, id int64, protect, allowForce bool) error {
	res := s.db.WithContext(ctx).Model(&Project{}).Where("id = ?", id).Updates(map[string]any{
		"protect_default_branch": protect,
		"allow_force_push":       allowForce,
		"updated_at":             time.Now().UTC(),
	})
	if res.Error != nil {
		return wrap("branch protection", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("branch protection", gorm.ErrRecordNotFound)
	}
	return nil
}

// DeleteProject removes a project with its builds and webhook deliveries.
func (s *Store) DeleteProject(ctx context.Context, id int64) error {
	res := s.db.WithContext(ctx).Delete(&Project{}, id)
	if res.Error != nil {
		return wrap("delete project", res.Error)
	}
	if res.RowsAffected == 0 {
		return wrap("delete project", gorm.ErrRecordNotFound)
	}
	return nil
}

// RecordWebhookDelivery remembers a delivery; a delivery ID already seen
// for the project returns ErrConflict, which means "already handled".
func (s *Store) RecordWebhookDelivery(ctx context.Context, d *WebhookDelivery) error {
	return wrap("record webhook delivery", s.db.WithContext(ctx).Create(d).Error)
}

// SetWebhookDeliveryBuild links a recorded delivery to the build it made.
func (s *Store) SetWebhookDeliveryBuild(ctx context.Context, id, buildID int64) error {
	err := s.db.WithContext(ctx).Model(&WebhookDelivery{}).Where("id = ?", id).Update("build_id", buildID).Error
	return wrap("set webhook delivery build", err)
}

// ForgetWebhookDelivery removes a recorded delivery, so the forge's retry
// of a delivery that failed on our side is handled again.
func (s *Store) ForgetWebhookDelivery(ctx context.Context, id int64) error {
	return wrap("forget webhook delivery", s.db.WithContext(ctx).Delete(&WebhookDelivery{}, id).Error)
}

// ProjectsDueForPoll lists projects with polling on whose interval has
// passed since their last poll (or that were never polled), oldest first.
func (s *Store) ProjectsDueForPoll(ctx context.Context, now time.Time) ([]Project, error) {
	var ps []Project
	err := s.db.WithContext(ctx).Where("poll_interval > 0").Order("id").Find(&ps).Error
	if err != nil {
		return nil, wrap("projects due for poll", err)
	}
	// The interval arithmetic is done here rather than in SQL, where
	// SQLite and PostgreSQL disagree on it; polled projects are few.
	due := ps[:0]
	for _, p := range ps {
		if p.LastPolledAt == nil || !p.LastPolledAt.Add(time.Duration(p.PollInterval)*time.Second).After(now) {
			due = append(due, p)
		}
	}
	return due, nil
}

// ClaimProjectPoll marks a project polled at now, but only if its last
// poll is still prev (the value ProjectsDueForPoll saw). It reports whether
// this caller won: two pollers racing for one project never both poll it.
func (s *Store) ClaimProjectPoll(ctx context.Context, id int64, prev *time.Time, now time.Time) (bool, error) {
	q := s.db.WithContext(ctx).Model(&Project{}).Where("id = ?", id)
	if prev == nil {
		q = q.Where("last_polled_at IS NULL")
	} else {
		q = q.Where("last_polled_at = ?", prev.UTC())
	}
	res := q.Update("last_polled_at", now.UTC())
	if res.Error != nil {
		return false, wrap("claim project poll", res.Error)
	}
	return res.RowsAffected == 1, nil
}

// LatestBuildForRef returns the project's newest build of ref.
func (s *Store) LatestBuildForRef(ctx context.Context, projectID int64, ref string) (*Build, error) {
	var b Build
	err := s.db.WithContext(ctx).Where("project_id = ? AND ref = ?", projectID, ref).Order("id DESC").First(&b).Error
	if err != nil {
		return nil, wrap("latest build for ref", err)
	}
	return &b, nil
}

// RecentBuildsByBranch returns, for each branch of the project that has
// builds, its newest perBranch builds, newest first.
func (s *Store) RecentBuildsByBranch(ctx context.Context, projectID int64, perBranch int) (map[string][]Build, error) {
	if perBranch <= 0 {
		perBranch = 5
	}
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT id FROM (
		SELECT id, ROW_NUMBER() OVER (PARTITION BY ref ORDER BY id DESC) AS rn
		FROM builds WHERE project_id = ? AND ref_type = ?
	) ranked WHERE rn <= ?`, projectID, "branch", perBranch).Scan(&ids).Error
	if err != nil {
		return nil, wrap("recent builds by branch", err)
	}
	out := map[string][]Build{}
	if len(ids) == 0 {
		return out, nil
	}
	var bs []Build
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Order("id DESC").Find(&bs).Error; err != nil {
		return nil, wrap("recent builds by branch", err)
	}
	for _, b := range bs {
		out[b.Ref] = append(out[b.Ref], b)
	}
	return out, nil
}

// LatestBuildPerProject returns each project's newest build, by project ID.
func (s *Store) LatestBuildPerProject(ctx context.Context) (map[int64]Build, error) {
	var ids []int64
	err := s.db.WithContext(ctx).Raw(`SELECT MAX(id) FROM builds GROUP BY project_id`).Scan(&ids).Error
	if err != nil {
		return nil, wrap("latest build per project", err)
	}
	out := map[int64]Build{}
	if len(ids) == 0 {
		return out, nil
	}
	var bs []Build
	if err := s.db.WithContext(ctx).Where("id IN ?", ids).Find(&bs).Error; err != nil {
		return nil, wrap("latest build per project", err)
	}
	for _, b := range bs {
		out[b.ProjectID] = b
	}
	return out, nil
}
