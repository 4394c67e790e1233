// Package store keeps accounts in a SQL database through gorm: a SQLite file by default (pure
// Go driver, no cgo), PostgreSQL when the DSN is a postgres:// URL.
package store

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// userRow is the users table.
type userRow struct {
	ID       uint64 `gorm:"primaryKey;autoIncrement"`
	Username string `gorm:"size:32;not null;uniqueIndex"`
	// Canonical is account.Canonical(Username), unique, so that names differing only in case
	// are one account. Nullable only for rows older than the column, until Open fills them.
	Canonical    *string   `gorm:"size:64;uniqueIndex"`
	PasswordHash []byte    `gorm:"not null"`
	CreatedAt    time.Time `gorm:"not null"`
}

func (userRow) TableName() string { return "users" }

// idempotencyRow remembers which account a registration with an Idempotency-Key created. It
// is written first, in the registration's transaction, so a concurrent retry with the same
// key waits for it and then finds it, rather than failing on the taken username.
type idempotencyRow struct {
	IdempotencyKey string    `gorm:"primaryKey;size:255"`
	Canonical      string    `gorm:"size:64;not null"`
	CreatedAt      time.Time `gorm:"not null;index"`
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

// KeyLifetime is how long an Idempotency-Key is remembered.
const KeyLifetime = 24 * time.Hour

// Users implements account.Store.
type Users struct {
	db        *gorm.DB
	lastSweep atomic.Int64 // UnixNano of the last sweep of expired rows
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
	gormConfig := &gorm.Config{
		TranslateError: true,
		Logger:         logger.Default.LogMode(logger.Silent),
		NowFunc:        func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
	}
	db, err := gorm.Open(dialector, gormConfig)
	// Instances opening one new SQLite file together contend for the lock that switching it to
	// WAL takes, which busy_timeout does not cover: try again for a while.
	for deadline := time.Now().Add(10 * time.Second); err != nil && strings.Contains(err.Error(), "database is locked") && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		db, err = gorm.Open(dialector, gormConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redact(dsn), err)
	}
	if err := db.Use(queryTracing{}); err != nil {
		return nil, fmt.Errorf("trace queries: %w", err)
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
	// (A busy SQLite file is tried again too.)
	var migrateErr error
	for attempt := 1; attempt <= 10; attempt++ {
		if migrateErr = db.AutoMigrate(&userRow{}, &idempotencyRow{}, &sessionRow{}, &familyRow{}, &revocationRow{}); migrateErr == nil {
			break
		}
		time.Sleep(time.Duration(attempt) * 20 * time.Millisecond)
	}
	if migrateErr != nil {
		return nil, fmt.Errorf("migrate database %s: %w", redact(dsn), migrateErr)
	}
	if err := fillCanonical(db); err != nil {
		return nil, fmt.Errorf("migrate database %s: %w", redact(dsn), err)
	}
	return &Users{db: db}, nil
}

// fillCanonical gives the rows written before usernames were unique regardless of case their
// canonical form. Where two old accounts differ only in case (Alice and alice), the oldest
// gets the canonical form and the others a form no new name can take (alice~7): each can
// still log in with its exact spelling, and no new account can take any of those names.
func fillCanonical(db *gorm.DB) error {
	for {
		var rows []userRow
		if err := db.Where("canonical IS NULL").Order("id").Limit(500).Find(&rows).Error; err != nil {
			return fmt.Errorf("find users without a canonical name: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		for _, r := range rows {
			canonical := account.Canonical(r.Username)
			err := setCanonical(db, r.ID, canonical)
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				canonical += "~" + strconv.FormatUint(r.ID, 10)
				log.Printf("user %d %q differs only in case from an older account: its canonical name is %q (it logs in with its exact spelling)", r.ID, r.Username, canonical)
				err = setCanonical(db, r.ID, canonical)
			}
			if err != nil {
				return fmt.Errorf("set canonical name of user %d: %w", r.ID, err)
			}
		}
	}
}

func setCanonical(db *gorm.DB, id uint64, canonical string) error {
	// canonical IS NULL: an instance migrating beside this one may have filled the row already.
	return db.Model(&userRow{}).Where("id = ? AND canonical IS NULL", id).Update("canonical", canonical).Error
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

// Create inserts u and fills its ID and CreatedAt; with an idempotency key, the key too, in the
// same transaction.
func (s *Users) Create(ctx context.Context, u *account.User, idempotencyKey string) error {
	canonical := account.Canonical(u.Username)
	row := userRow{Username: u.Username, Canonical: &canonical, PasswordHash: u.PasswordHash}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		if idempotencyKey != "" {
			// An expired key is free again.
			if err := tx.Where("idempotency_key = ? AND created_at < ?", idempotencyKey, s.expiry()).Delete(&idempotencyRow{}).Error; err != nil {
				return fmt.Errorf("expire idempotency key: %w", err)
			}
			err := tx.Create(&idempotencyRow{IdempotencyKey: idempotencyKey, Canonical: canonical}).Error
			if errors.Is(err, gorm.ErrDuplicatedKey) {
				return account.ErrKeyTaken
			}
			if err != nil {
				return fmt.Errorf("insert idempotency key: %w", err)
			}
		}
		err := tx.Create(&row).Error
		if errors.Is(err, gorm.ErrDuplicatedKey) {
			return account.ErrUsernameTaken
		}
		return err
	})
	if errors.Is(err, account.ErrUsernameTaken) || errors.Is(err, account.ErrKeyTaken) {
		return err
	}
	if err != nil {
		return fmt.Errorf("insert user %s: %w", u.Username, err)
	}
	u.ID, u.CreatedAt = row.ID, row.CreatedAt
	s.sweep()
	return nil
}

func (s *Users) expiry() time.Time { return time.Now().UTC().Add(-KeyLifetime) }

// ByUsername loads the account with exactly this username, else the one with its canonical
// form.
func (s *Users) ByUsername(ctx context.Context, username string) (account.User, error) {
	u, err := s.first(ctx, "username = ?", username)
	if errors.Is(err, account.ErrNotFound) {
		return s.first(ctx, "canonical = ?", account.Canonical(username))
	}
	return u, err
}

// ByID loads the account with the id.
func (s *Users) ByID(ctx context.Context, id uint64) (account.User, error) {
	return s.first(ctx, "id = ?", id)
}

// ByIdempotencyKey loads the account a registration with key created.
func (s *Users) ByIdempotencyKey(ctx context.Context, key string) (account.User, error) {
	var k idempotencyRow
	err := s.db.WithContext(ctx).Where("idempotency_key = ? AND created_at >= ?", key, s.expiry()).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return account.User{}, account.ErrNotFound
	}
	if err != nil {
		return account.User{}, fmt.Errorf("select idempotency key: %w", err)
	}
	return s.first(ctx, "canonical = ?", k.Canonical)
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
