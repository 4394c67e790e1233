package store

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/gomicro-stack/gomicro-stack/service/user/account"
)

// sessionRow is the refresh_tokens table: one row per refresh token ever handed out (by its
// hash), until it has expired.
type sessionRow struct {
	Hash          string    `gorm:"primaryKey;size:64"`
	Family        string    `gorm:"size:32;not null;index"`
	UserID        uint64    `gorm:"not null;index"`
	ExpiresAt     time.Time `gorm:"not null;index"`
	AccessID      string    `gorm:"size:32;not null"`
	AccessExpires time.Time `gorm:"not null"`
	UsedAt        *time.Time
	RevokedAt     *time.Time
	CreatedAt     time.Time `gorm:"not null"`
}

func (sessionRow) TableName() string { return "refresh_tokens" }

// familyRow is one login's chain of sessions. A rotation and a revocation of the family both
// begin by writing this row, which locks it until they commit: they run one after the other,
// never beside each other. Without it, under PostgreSQL's READ COMMITTED, a revocation's
// UPDATE of the family's sessions missed the session a rotation committed meanwhile, and that
// refresh token lived on (8 to 11 of 24 races).
type familyRow struct {
	ID        string `gorm:"primaryKey;size:32"`
	RevokedAt *time.Time
	// ExpiresAt is when the family's latest session expires: the row is swept after.
	ExpiresAt time.Time `gorm:"not null;index"`
}

func (familyRow) TableName() string { return "refresh_families" }

// lockFamily writes the family's row (making it for families older than the table) and so
// holds it until the transaction ends; it says whether the family was revoked. expires moves
// the row's expiry on; revoke marks the family revoked.
func lockFamily(tx *gorm.DB, family string, expires, revoke *time.Time) (revoked bool, err error) {
	row := familyRow{ID: family, RevokedAt: revoke, ExpiresAt: time.Now().UTC()}
	updates := map[string]any{"revoked_at": gorm.Expr("COALESCE(refresh_families.revoked_at, excluded.revoked_at)")}
	if expires != nil {
		row.ExpiresAt = expires.UTC()
		updates["expires_at"] = gorm.Expr("excluded.expires_at")
	}
	err = tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.Assignments(updates)}).Create(&row).Error
	if err != nil {
		return false, fmt.Errorf("lock family: %w", err)
	}
	// The row is ours until commit; what it says now is what any other writer left.
	var locked familyRow
	if err := tx.Where("id = ?", family).Take(&locked).Error; err != nil {
		return false, fmt.Errorf("read family: %w", err)
	}
	return locked.RevokedAt != nil, nil
}

// revocationRow is the revocations table, which the gateways read.
type revocationRow struct {
	ID           uint64    `gorm:"primaryKey;autoIncrement"`
	TokenID      string    `gorm:"size:32;not null;default:''"`
	UserID       uint64    `gorm:"not null;default:0"`
	IssuedBefore int64     `gorm:"not null;default:0"`
	Until        time.Time `gorm:"not null;index"`
	CreatedAt    time.Time `gorm:"not null;index"`
}

func (revocationRow) TableName() string { return "revocations" }

var _ account.SessionStore = (*Users)(nil)

func toSessionRow(s account.Session) sessionRow {
	return sessionRow{Hash: s.Hash, Family: s.Family, UserID: s.UserID, ExpiresAt: s.ExpiresAt.UTC(),
		AccessID: s.AccessID, AccessExpires: s.AccessExpires.UTC()}
}

// CreateSession stores the first session of a family, and the family.
func (s *Users) CreateSession(ctx context.Context, session account.Session) error {
	row := toSessionRow(session)
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		revoked, err := lockFamily(tx, row.Family, &row.ExpiresAt, nil)
		if err != nil {
			return err
		}
		if revoked {
			return account.ErrSessionRevoked
		}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("insert session: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.sweep()
	return nil
}

// SessionByHash loads the session with the refresh token's hash.
func (s *Users) SessionByHash(ctx context.Context, hash string) (account.Session, error) {
	var row sessionRow
	err := s.db.WithContext(ctx).Where("hash = ?", hash).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return account.Session{}, account.ErrNotFound
	}
	if err != nil {
		return account.Session{}, fmt.Errorf("select session: %w", err)
	}
	return account.Session{Hash: row.Hash, Family: row.Family, UserID: row.UserID, ExpiresAt: row.ExpiresAt,
		AccessID: row.AccessID, AccessExpires: row.AccessExpires, Used: row.UsedAt, Revoked: row.RevokedAt}, nil
}

// RotateSession spends the session and stores the next one, with the family locked (see
// familyRow): a revoked family rotates no more (account.ErrSessionRevoked). Spending is a
// conditional update: of two requests with one token, exactly one finds it unspent.
func (s *Users) RotateSession(ctx context.Context, hash string, next account.Session, now time.Time) error {
	now = now.UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		revoked, err := lockFamily(tx, next.Family, &next.ExpiresAt, nil)
		if err != nil {
			return err
		}
		if revoked {
			return account.ErrSessionRevoked
		}
		spent := tx.Model(&sessionRow{}).
			Where("hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?", hash, now).
			Update("used_at", now)
		if spent.Error != nil {
			return fmt.Errorf("spend session: %w", spent.Error)
		}
		if spent.RowsAffected != 1 {
			return account.ErrSessionUsed
		}
		row := toSessionRow(next)
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("insert the next session: %w", err)
		}
		return nil
	})
}

// RevokeFamily marks the family revoked, ends its sessions and records revocations of the access tokens issued
// with them that have not expired.
func (s *Users) RevokeFamily(ctx context.Context, family string, now time.Time) error {
	now = now.UTC()
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		// Locked first: a rotation of the family either committed before (its session is
		// revoked below) or waits and then finds the family revoked.
		if _, err := lockFamily(tx, family, nil, &now); err != nil {
			return err
		}
		if err := tx.Model(&sessionRow{}).Where("family = ? AND revoked_at IS NULL", family).Update("revoked_at", now).Error; err != nil {
			return fmt.Errorf("revoke family: %w", err)
		}
		var live []sessionRow
		if err := tx.Where("family = ? AND access_expires > ?", family, now).Find(&live).Error; err != nil {
			return fmt.Errorf("find the family's access tokens: %w", err)
		}
		for _, r := range live {
			if err := tx.Create(&revocationRow{TokenID: r.AccessID, Until: r.AccessExpires}).Error; err != nil {
				return fmt.Errorf("revoke access token: %w", err)
			}
		}
		return nil
	})
}

// Revoke records a revocation.
func (s *Users) Revoke(ctx context.Context, r account.Revocation) error {
	row := revocationRow{TokenID: r.TokenID, UserID: r.UserID, IssuedBefore: r.IssuedBefore, Until: r.Until.UTC()}
	if err := s.db.WithContext(ctx).Create(&row).Error; err != nil {
		return fmt.Errorf("insert revocation: %w", err)
	}
	return nil
}

// DeleteUser removes the account with everything that names it, and records r.
func (s *Users) DeleteUser(ctx context.Context, id uint64, r account.Revocation) error {
	return s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var u userRow
		if err := tx.Where("id = ?", id).Take(&u).Error; errors.Is(err, gorm.ErrRecordNotFound) {
			return account.ErrNotFound
		} else if err != nil {
			return fmt.Errorf("select user: %w", err)
		}
		if err := tx.Where("user_id = ?", id).Delete(&sessionRow{}).Error; err != nil {
			return fmt.Errorf("delete sessions: %w", err)
		}
		if u.Canonical != nil {
			if err := tx.Where("canonical = ?", *u.Canonical).Delete(&idempotencyRow{}).Error; err != nil {
				return fmt.Errorf("delete idempotency keys: %w", err)
			}
		}
		if err := tx.Delete(&userRow{}, id).Error; err != nil {
			return fmt.Errorf("delete user: %w", err)
		}
		row := revocationRow{TokenID: r.TokenID, UserID: r.UserID, IssuedBefore: r.IssuedBefore, Until: r.Until.UTC()}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("insert revocation: %w", err)
		}
		return nil
	})
}

// RevocationsSince lists the revocations recorded at or after since that apply at now.
func (s *Users) RevocationsSince(ctx context.Context, since, now time.Time) ([]account.Revocation, error) {
	var rows []revocationRow
	err := s.db.WithContext(ctx).Where("created_at >= ? AND until > ?", since.UTC(), now.UTC()).Order("id").Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("select revocations: %w", err)
	}
	out := make([]account.Revocation, len(rows))
	for i, r := range rows {
		out[i] = account.Revocation{TokenID: r.TokenID, UserID: r.UserID, IssuedBefore: r.IssuedBefore, Until: r.Until}
	}
	return out, nil
}

// sweep deletes expired sessions, revocations and idempotency keys, at most once a minute.
func (s *Users) sweep() {
	now := time.Now()
	last := s.lastSweep.Load()
	if now.UnixNano()-last < int64(time.Minute) || !s.lastSweep.CompareAndSwap(last, now.UnixNano()) {
		return
	}
	utc := now.UTC()
	for what, err := range map[string]error{
		"idempotency keys": s.db.Where("created_at < ?", s.expiry()).Delete(&idempotencyRow{}).Error,
		"sessions":         s.db.Where("expires_at < ?", utc).Delete(&sessionRow{}).Error,
		// A family outlives its sessions; once they have expired nothing can rotate it.
		"families":    s.db.Where("expires_at < ?", utc).Delete(&familyRow{}).Error,
		"revocations": s.db.Where("until < ?", utc).Delete(&revocationRow{}).Error,
	} {
		if err != nil {
			log.Printf("delete expired %s: %v", what, err)
		}
	}
}
