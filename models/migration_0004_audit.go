package models

import (
	"time"

	"github.com/go-gormigrate/gormigrate/v2"
	"gorm.io/gorm"
)

// The append-only guard on audit_events. It stops the application (and
// careless hands) from editing history; it does not stop the table's owner
// or a superuser, who can disable it:
//
//	ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;
//
// (on SQLite: DROP TRIGGER audit_events_no_update; DROP TRIGGER
// audit_events_no_delete). What catches that is the hash chain, checked by
// `slipway audit verify`.
const (
	auditGuardPostgres = `
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
	FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
	FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();`

	auditGuardSQLiteUpdate = `CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END`
	auditGuardSQLiteDelete = `CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END`
)

func migration0004Audit() *gormigrate.Migration {
	type AuditEvent struct {
		ID         int64     `gorm:"primaryKey"`
		Seq        int64     `gorm:"not null;uniqueIndex"`
		At         time.Time `gorm:"not null;index"`
		ActorID    *int64    `gorm:"index"` // no foreign key: events outlive users
		ActorName  string    `gorm:"size:64;not null;index"`
		Action     string    `gorm:"size:64;not null;index"`
		ObjectType string    `gorm:"size:32;not null;index:idx_audit_events_object,priority:1"`
		ObjectID   string    `gorm:"size:128;not null;index:idx_audit_events_object,priority:2"`
		Details    string    `gorm:"type:text;not null"` // text, not jsonb: the hash covers these exact bytes
		PrevHash   string    `gorm:"size:64;not null"`
		Hash       string    `gorm:"size:64;not null"`
	}
	return &gormigrate.Migration{
		ID: "0004_audit_events",
		Migrate: func(tx *gorm.DB) error {
			if err := tx.Migrator().CreateTable(&AuditEvent{}); err != nil {
				return err
			}
			if tx.Dialector.Name() == "postgres" {
				return tx.Exec(auditGuardPostgres).Error
			}
			if err := tx.Exec(auditGuardSQLiteUpdate).Error; err != nil {
				return err
			}
			return tx.Exec(auditGuardSQLiteDelete).Error
		},
		Rollback: func(tx *gorm.DB) error {
			if err := tx.Migrator().DropTable("audit_events"); err != nil {
				return err
			}
			if tx.Dialector.Name() == "postgres" {
				return tx.Exec(`DROP FUNCTION IF EXISTS audit_events_append_only()`).Error
			}
			return nil
		},
	}
}
