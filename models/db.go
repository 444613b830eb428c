// Package models holds the GORM structs, the Store with every query, the
// versioned migrations, and opening the database (SQLite or PostgreSQL).
package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Dialect names the database engine behind a Store.
type Dialect string

// The supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// ErrNotFound is returned by Store methods when the row does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned when a unique constraint rejects a write.
var ErrConflict = errors.New("already exists")

// Config says which database to open.
type Config struct {
	// URL is a postgres:// URL; empty means SQLite in DataDir.
	URL string
	// DataDir holds slipway.db when URL is empty.
	DataDir string
}

// Store is the only way into the database. Every query lives on it.
type Store struct {
	db      *gorm.DB
	sqlDB   *sql.DB
	dialect Dialect
	dsn     string
	// notify is shared by a store and every transaction it opens; the job
	// system sets it once (SetNotifyHooks).
	notify *atomic.Pointer[NotifyHooks]
}

// IsPostgresURL reports whether url selects PostgreSQL.
func IsPostgresURL(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// SQLitePath returns the database file used for a data dir.
func SQLitePath(dataDir string) string { return filepath.Join(dataDir, "slipway.db") }

// SQLiteDSN is the DSN for an SQLite file with WAL, a busy timeout and
// foreign keys on; River's own pool uses the same settings.
func SQLiteDSN(path string) string {
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// Open connects to the database described by cfg. It does not migrate.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	gcfg := &gorm.Config{Logger: logger.Discard, NowFunc: func() time.Time { return time.Now().UTC() }, TranslateError: true}
	var (
		db      *gorm.DB
		err     error
		dialect Dialect
		dsn     string
	)
	switch {
	case IsPostgresURL(cfg.URL):
		dialect, dsn = Postgres, cfg.URL
		db, err = gorm.Open(postgres.Open(dsn), gcfg)
	case cfg.URL != "":
		return nil, fmt.Errorf("models: open: SLIPWAY_DATABASE_URL must start with postgres:// (got %q)", redactURL(cfg.URL))
	default:
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("models: create data dir: %w", err)
		}
		dialect, dsn = SQLite, SQLiteDSN(SQLitePath(cfg.DataDir))
		db, err = gorm.Open(sqlite.Open(dsn), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("models: open %s: %w", dialect, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("models: open %s: %w", dialect, err)
	}
	if dialect == SQLite {
		// SQLite has one writer; a handful of connections keeps readers
		// concurrent under WAL without piling up busy writers.
		sqlDB.SetMaxOpenConns(4)
	} else {
		sqlDB.SetMaxOpenConns(20)
	}
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("models: ping %s: %w", dialect, err)
	}
	return &Store{db: db, sqlDB: sqlDB, dialect: dialect, dsn: dsn, notify: new(atomic.Pointer[NotifyHooks])}, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "@"); i > 0 {
		if j := strings.Index(u, "://"); j > 0 && j < i {
			return u[:j+3] + "…" + u[i:]
		}
	}
	return u
}

// Dialect reports the database engine.
func (s *Store) Dialect() Dialect { return s.dialect }

// DSN returns the connection string (for River and LISTEN/NOTIFY pools).
func (s *Store) DSN() string { return s.dsn }

// SQLDB exposes the pool (for River's insert-only client on PostgreSQL).
func (s *Store) SQLDB() *sql.DB { return s.sqlDB }

// Close closes the pool.
func (s *Store) Close() error { return s.sqlDB.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.sqlDB.PingContext(ctx)
}

// Tx runs fn in a transaction; fn receives a Store bound to it. The
// transaction's *sql.Tx is available from SQLTx so jobs can be inserted in
// the same transaction as the rows they work on.
func (s *Store) Tx(ctx context.Context, fn func(tx *Store) error) error {
	return s.db.WithContext(ctx).Transaction(func(gtx *gorm.DB) error {
		return fn(&Store{db: gtx, sqlDB: s.sqlDB, dialect: s.dialect, dsn: s.dsn, notify: s.notify})
	})
}

// SQLTx returns the transaction a Store from Tx is bound to.
func (s *Store) SQLTx() (*sql.Tx, bool) {
	tx, ok := s.db.Statement.ConnPool.(*sql.Tx)
	return tx, ok
}

// wrap turns gorm errors into the domain's sentinels with a prefix.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return fmt.Errorf("models: %s: %w", op, ErrNotFound)
	case errors.Is(err, gorm.ErrDuplicatedKey) || isUniqueViolation(err):
		return fmt.Errorf("models: %s: %w", op, ErrConflict)
	}
	return fmt.Errorf("models: %s: %w", op, err)
}

func isUniqueViolation(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}
