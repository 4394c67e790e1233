// Package store keeps accounts in a SQL database through gorm: a SQLite file by default (pure
// Go driver, no cgo), PostgreSQL when the DSN is a postgres:// URL.
package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// userRow is the users table.
type userRow struct {
	ID           uint64    `gorm:"primaryKey;autoIncrement"`
	Username     string    `gorm:"size:32;not null;uniqueIndex"`
	PasswordHash []byte    `gorm:"not null"`
	CreatedAt    time.Time `gorm:"not null"`
}

func (userRow) TableName() string { return "users" }

// Users implements account.Store.
type Users struct {
	db *gorm.DB
}

var _ account.Store = (*Users)(nil)

// Open connects to the database named by dsn and migrates the schema. A dsn starting with
// postgres:// or postgresql:// selects PostgreSQL; anything else is a SQLite file path, whose
// folder is created if missing.
func Open(dsn string) (*Users, error) {
	dialector, err := dialectorFor(dsn)
	if err != nil {
		return nil, err
	}
	db, err := gorm.Open(dialector, &gorm.Config{
		TranslateError: true,
		Logger:         logger.Default.LogMode(logger.Silent),
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redact(dsn), err)
	}
	if db.Dialector.Name() == "sqlite" {
		sqlDB, err := db.DB()
		if err != nil {
			return nil, err
		}
		// SQLite allows one writer; a single connection makes writers queue in Go rather than
		// fail with SQLITE_BUSY.
		sqlDB.SetMaxOpenConns(1)
	}
	// Instances starting together race to create the table: the loser checked before the
	// winner created it and fails on "already exists". Migrating again sees the table.
	var migrateErr error
	for attempt := 0; attempt < 3; attempt++ {
		if migrateErr = db.AutoMigrate(&userRow{}); migrateErr == nil {
			break
		}
	}
	if migrateErr != nil {
		return nil, fmt.Errorf("migrate database %s: %w", redact(dsn), migrateErr)
	}
	return &Users{db: db}, nil
}

func dialectorFor(dsn string) (gorm.Dialector, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return postgres.Open(dsn), nil
	}
	if dsn == "" {
		return nil, errors.New("database dsn is empty")
	}
	path := strings.TrimPrefix(dsn, "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if path != ":memory:" {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("create folder for %s: %w", path, err)
		}
	}
	if !strings.Contains(dsn, "?") {
		dsn += "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)"
	}
	return sqlite.Open(dsn), nil
}

// redact hides a password in a DSN for error messages.
func redact(dsn string) string {
	if at := strings.LastIndex(dsn, "@"); at > 0 {
		if scheme := strings.Index(dsn, "://"); scheme > 0 && scheme < at {
			return dsn[:scheme+3] + "***" + dsn[at:]
		}
	}
	return dsn
}

// Close releases the database connections.
func (s *Users) Close() error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks the database answers.
func (s *Users) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

// Create inserts u and fills its ID and CreatedAt.
func (s *Users) Create(ctx context.Context, u *account.User) error {
	row := userRow{Username: u.Username, PasswordHash: u.PasswordHash}
	err := s.db.WithContext(ctx).Create(&row).Error
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return account.ErrUsernameTaken
	}
	if err != nil {
		return fmt.Errorf("insert user %s: %w", u.Username, err)
	}
	u.ID, u.CreatedAt = row.ID, row.CreatedAt
	return nil
}

// ByUsername loads the account with exactly this username.
func (s *Users) ByUsername(ctx context.Context, username string) (account.User, error) {
	return s.first(ctx, "username = ?", username)
}

// ByID loads the account with the id.
func (s *Users) ByID(ctx context.Context, id uint64) (account.User, error) {
	return s.first(ctx, "id = ?", id)
}

func (s *Users) first(ctx context.Context, where string, arg any) (account.User, error) {
	var row userRow
	err := s.db.WithContext(ctx).Where(where, arg).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return account.User{}, account.ErrNotFound
	}
	if err != nil {
		return account.User{}, fmt.Errorf("select user where %s: %w", where, err)
	}
	return account.User{ID: row.ID, Username: row.Username, PasswordHash: row.PasswordHash, CreatedAt: row.CreatedAt}, nil
}
