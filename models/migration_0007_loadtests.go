package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0007LoadTests adds saved load-test plans, load-test runs and the
// admin limits runs are checked against.
//
// A run keeps its own copy of the spec (as JSON), the release and artifact
// it attacked (recorded when it starts), its report and its per-second
// windows: deleting or editing the plan never changes a finished run, and
// the promotion gate can ask "did this artifact pass in that environment?".
func migration0007LoadTests() *gormigrate.Migration {
	type User struct{ ID int64 }
	type Project struct{ ID int64 }
	type Environment struct{ ID int64 }
	type Release struct{ ID int64 }
	type LoadTestPlan struct {
		ID              int64       `gorm:"primaryKey"`
		ProjectID       int64       `gorm:"not null;uniqueIndex:idx_load_test_plans_project_name,priority:1"`
		Project         Project     `gorm:"constraint:OnDelete:CASCADE"`
		EnvironmentID   int64       `gorm:"not null;index"`
		Environment     Environment `gorm:"constraint:OnDelete:CASCADE"`
		Name            string      `gorm:"size:100;not null;uniqueIndex:idx_load_test_plans_project_name,priority:2"`
		Targets         string      `gorm:"type:text;not null"`
		Pacer           string      `gorm:"size:16;not null;default:'constant'"`
		Rate            float64     `gorm:"not null"`
		RateTo          float64     `gorm:"not null;default:0"`
		Duration        int64       `gorm:"not null"` // nanoseconds
		Timeout         int64       `gorm:"not null"` // nanoseconds
		MaxWorkers      int64       `gorm:"not null;default:0"`
		ThresholdP95    int64       `gorm:"not null;default:0"` // nanoseconds; 0 = unset
		ThresholdP99    int64       `gorm:"not null;default:0"`
		MinSuccessRatio float64     `gorm:"not null;default:0"`
		MinThroughput   float64     `gorm:"not null;default:0"`
		CreatedByID     *int64
		CreatedBy       *User `gorm:"constraint:OnDelete:SET NULL"`
		CreatedAt       time.Time
		UpdatedAt       time.Time
	}
	type LoadTest struct {
		ID              int64         `gorm:"primaryKey"`
		ProjectID       int64         `gorm:"not null;index"`
		Project         Project       `gorm:"constraint:OnDelete:CASCADE"`
		PlanID          *int64        `gorm:"index"`
		Plan            *LoadTestPlan `gorm:"constraint:OnDelete:SET NULL"`
		EnvironmentID   int64         `gorm:"not null;index:idx_load_tests_env_artifact,priority:1"`
		Environment     Environment   `gorm:"constraint:OnDelete:CASCADE"`
		ReleaseID       *int64
		Release         *Release `gorm:"constraint:OnDelete:SET NULL"`
		ArtifactSHA256  string   `gorm:"size:64;not null;default:'';index:idx_load_tests_env_artifact,priority:2"`
		BaseURL         string   `gorm:"size:1024;not null;default:''"`
		Spec            string   `gorm:"type:text;not null"`
		Duration        int64    `gorm:"not null"` // nanoseconds, copied from the spec for progress
		Status          string   `gorm:"size:16;not null;index"`
		Verdict         string   `gorm:"size:16;not null;default:''"`
		Report          string   `gorm:"type:text;not null;default:''"`
		Windows         string   `gorm:"type:text;not null;default:'[]'"`
		Error           string   `gorm:"type:text;not null;default:''"`
		CancelRequested bool     `gorm:"not null;default:false"`
		JobID           int64    `gorm:"not null;default:0"`
		CreatedByID     *int64
		CreatedBy       *User `gorm:"constraint:OnDelete:SET NULL"`
		CreatedAt       time.Time
		StartedAt       *time.Time
		FinishedAt      *time.Time
	}
	type LoadTestLimits struct {
		ID            int64   `gorm:"primaryKey"`
		MaxRate       float64 `gorm:"not null"`
		MaxDuration   int64   `gorm:"not null"` // nanoseconds
		MaxConcurrent int     `gorm:"not null"`
		MaxWorkers    int64   `gorm:"not null"`
		UpdatedByID   *int64
		UpdatedBy     *User `gorm:"constraint:OnDelete:SET NULL"`
		UpdatedAt     time.Time
	}
	return &gormigrate.Migration{
		ID: "0007_loadtests",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&LoadTestPlan{}, &LoadTest{}, &LoadTestLimits{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("load_test_limits", "load_tests", "load_test_plans")
		},
	}
}
