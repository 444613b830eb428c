package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0008BuildsExtra adds what running builds across processes needs:
// which worker runs a build and when it last said so (crash recovery), and
// a cancel request any worker can see (cancel from another process).
func migration0008BuildsExtra() *gormigrate.Migration {
	type Build struct {
		WorkerID          string `gorm:"size:255;not null;default:''"`
		HeartbeatAt       *time.Time
		CancelRequestedAt *time.Time
		CanceledByID      *int64
	}
	cols := []string{"WorkerID", "HeartbeatAt", "CancelRequestedAt", "CanceledByID"}
	return &gormigrate.Migration{
		ID: "0008_builds_extra",
		Migrate: func(tx *gorm.DB) error {
			for _, c := range cols {
				if err := tx.Migrator().AddColumn(&Build{}, c); err != nil {
					return err
				}
			}
			return nil
		},
		Rollback: func(tx *gorm.DB) error {
			for _, c := range cols {
				if err := tx.Migrator().DropColumn(&Build{}, c); err != nil {
					return err
				}
			}
			return nil
		},
	}
}
