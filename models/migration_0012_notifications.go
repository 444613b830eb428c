package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// migration0012Notifications adds notification endpoints (a project's
// webhook, Slack-compatible webhook or email recipients, with the events
// they subscribe to and sealed URL and signing secrets) and the delivery
// log: one row per event and endpoint, with its attempts and next try.
func migration0012Notifications() *gormigrate.Migration {
	type User struct{ ID int64 }
	type Project struct{ ID int64 }
	type NotificationEndpoint struct {
		ID                 int64   `gorm:"primaryKey"`
		ProjectID          int64   `gorm:"not null;index"`
		Project            Project `gorm:"constraint:OnDelete:CASCADE"`
		Key                string  `gorm:"size:32;not null;uniqueIndex"`
		Name               string  `gorm:"size:64;not null"`
		Kind               string  `gorm:"size:16;not null"`
		Target             string  `gorm:"size:2048;not null;default:''"`
		URLSealed          []byte
		Events             string `gorm:"size:512;not null;default:''"`
		SecretSealed       []byte
		OldSecretSealed    []byte
		OldSecretExpiresAt *time.Time
		Enabled            bool   `gorm:"not null;default:true"`
		DisabledReason     string `gorm:"size:512;not null;default:''"`
		AllowPrivate       bool   `gorm:"not null;default:false"`
		CreatedByID        *int64
		CreatedBy          *User `gorm:"constraint:OnDelete:SET NULL"`
		CreatedAt          time.Time
		UpdatedAt          time.Time
	}
	type NotificationDelivery struct {
		ID             int64                `gorm:"primaryKey"`
		EndpointID     int64                `gorm:"not null;index:idx_notification_deliveries_endpoint,priority:1"`
		Endpoint       NotificationEndpoint `gorm:"constraint:OnDelete:CASCADE"`
		EventType      string               `gorm:"size:32;not null"`
		MessageID      string               `gorm:"size:64;not null;index"`
		Payload        string               `gorm:"not null"`
		Status         string               `gorm:"size:16;not null;index"`
		Attempts       int                  `gorm:"not null;default:0"`
		LastStatusCode int                  `gorm:"not null;default:0"`
		LastError      string               `gorm:"size:1024;not null;default:''"`
		LastResponse   string               `gorm:"size:1024;not null;default:''"`
		NextAttemptAt  *time.Time
		DeliveredAt    *time.Time
		JobID          int64     `gorm:"not null;default:0"`
		CreatedAt      time.Time `gorm:"index:idx_notification_deliveries_endpoint,priority:2"`
		UpdatedAt      time.Time
	}
	return &gormigrate.Migration{
		ID: "0012_notifications",
		Migrate: func(tx *gorm.DB) error {
			return tx.Migrator().CreateTable(&NotificationEndpoint{}, &NotificationDelivery{})
		},
		Rollback: func(tx *gorm.DB) error {
			return tx.Migrator().DropTable("notification_deliveries", "notification_endpoints")
		},
	}
}
