package testkit

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	"github.com/slipway-ci/slipway/models"
)

// fixtureDBs keeps one GORM handle per store's connection pool.
var fixtureDBs sync.Map // *sql.DB → *gorm.DB

// InsertFixture inserts rows exactly as given (IDs, statuses, timestamps
// included), without hooks or associations, into the store's database:
// the rows a test needs that no Store method would create that way. It
// goes through the store's own connection pool, so a row is visible to
// the store at once, within the same SQLite connection limits.
func InsertFixture(ctx context.Context, s *models.Store, rows ...any) error {
	db, err := fixtureDB(s)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if err := db.WithContext(ctx).Omit(clause.Associations).Create(r).Error; err != nil {
			return fmt.Errorf("testkit: insert fixture %T: %w", r, err)
		}
	}
	return nil
}

func fixtureDB(s *models.Store) (*gorm.DB, error) {
	pool := s.SQLDB()
	if db, ok := fixtureDBs.Load(pool); ok {
		return db.(*gorm.DB), nil
	}
	var d gorm.Dialector
	switch s.Dialect() {
	case models.Postgres:
		d = postgres.New(postgres.Config{Conn: pool})
	default:
		d = &sqlite.Dialector{Conn: pool}
	}
	// The store's settings: UTC timestamps, quiet.
	db, err := gorm.Open(d, &gorm.Config{Logger: logger.Discard, NowFunc: func() time.Time { return time.Now().UTC() }, TranslateError: true})
	if err != nil {
		return nil, fmt.Errorf("testkit: open fixture handle: %w", err)
	}
	actual, _ := fixtureDBs.LoadOrStore(pool, db)
	return actual.(*gorm.DB), nil
}
