package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/gomicro-stack/gomicro-stack/internal/auth"
)

// Session errors. ErrBadRefresh is what a client hears for every refresh token that does not
// work; ErrRefreshReused says more, because the client must sign in again.
var (
	// ErrBadRefresh: unknown, expired, revoked or malformed refresh token.
	ErrBadRefresh = errors.New("refresh token is not valid; please login")
	// ErrRefreshReused: a refresh token came back after it had been used. Someone else may
	// hold a copy: its whole family (every token that login led to) is revoked.
	ErrRefreshReused = errors.New("refresh token was already used; every session of this login is revoked, please login")
	// ErrSessionUsed: the store found the session used (or revoked) already.
	ErrSessionUsed = errors.New("session already used")
	// ErrSessionRevoked: the store found the session's family revoked.
	ErrSessionRevoked = errors.New("session revoked")
	// ErrNotYours: the refresh token belongs to another account.
	ErrNotYours = errors.New("refresh token does not belong to the caller")
	// ErrNoCaller: the call carries no verified identity.
	ErrNoCaller = errors.New("caller identity missing")
)

// Session is one refresh token, stored by its hash, of the family that one login began. Each
// use ends it and begins the next session of the family.
type Session struct {
	Hash      string // SHA-256 of the refresh token, hex
	Family    string
	UserID    uint64
	ExpiresAt time.Time
	// AccessID and AccessExpires are the access token issued with this session, revoked with
	// the family.
	AccessID      string
	AccessExpires time.Time
	// Used and Revoked are when the session ended, if it has.
	Used, Revoked *time.Time
}

// Revocation is a rule the gateways apply to access tokens that have not expired: the one
// with TokenID, or every token of UserID issued before IssuedBefore (Unix seconds). It is kept
// until Until, when every token it could apply to has expired.
type Revocation struct {
	TokenID      string
	UserID       uint64
	IssuedBefore int64
	Until        time.Time
}

// SessionStore keeps sessions and revocations.
type SessionStore interface {
	CreateSession(ctx context.Context, s Session) error
	// SessionByHash loads a session; ErrNotFound if there is none.
	SessionByHash(ctx context.Context, hash string) (Session, error)
	// RotateSession ends the session with hash (used at now) and stores next, in one
	// transaction; ErrSessionUsed if the session had ended already, ErrSessionRevoked if its
	// family is revoked. A rotation and a RevokeFamily of one family must not interleave: the
	// session a rotation stores is either revoked with its family or never stored.
	RotateSession(ctx context.Context, hash string, next Session, now time.Time) error
	// RevokeFamily ends every session of family and revokes their unexpired access tokens.
	RevokeFamily(ctx context.Context, family string, now time.Time) error
	// Revoke records r.
	Revoke(ctx context.Context, r Revocation) error
	// DeleteUser removes the account, its sessions and its idempotency keys, and records r,
	// in one transaction; ErrNotFound if there is no such account.
	DeleteUser(ctx context.Context, id uint64, r Revocation) error
	// RevocationsSince lists the revocations recorded at or after since that still apply.
	RevocationsSince(ctx context.Context, since, now time.Time) ([]Revocation, error)
}

// Tokens is what a login or a refresh answers.
type Tokens struct {
	Access       string
	AccessExpiry time.Time
	Refresh      string
}

// refreshTokenBytes is the randomness of a refresh token.
const refreshTokenBytes = 32

func newRefreshToken() (token, hash string, err error) {
	b := make([]byte, refreshTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("make a refresh token: %w", err)
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, hashRefresh(token), nil
}

// hashRefresh is what the store keeps of a refresh token: enough to find it, nothing to use.
func hashRefresh(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// issue signs an access token for u and makes the session of family that goes with it.
func (s *Service) issue(u User, family string) (Tokens, Session, error) {
	access, err := s.tokens.Issue(auth.Identity{UserID: u.ID, Username: u.Username})
	if err != nil {
		return Tokens{}, Session{}, fmt.Errorf("issue tokens for user %d: %w", u.ID, err)
	}
	refresh, hash, err := newRefreshToken()
	if err != nil {
		return Tokens{}, Session{}, err
	}
	session := Session{Hash: hash, Family: family, UserID: u.ID, ExpiresAt: s.now().Add(s.refreshTTL),
		AccessID: access.ID, AccessExpires: access.ExpiresAt}
	return Tokens{Access: access.Token, AccessExpiry: access.ExpiresAt, Refresh: refresh}, session, nil
}

// startSession begins a family for u: what a login hands out.
func (s *Service) startSession(ctx context.Context, u User) (Tokens, error) {
	family, err := auth.NewTokenID()
	if err != nil {
		return Tokens{}, err
	}
	tokens, session, err := s.issue(u, family)
	if err != nil {
		return Tokens{}, err
	}
	if err := s.sessions.CreateSession(ctx, session); err != nil {
		return Tokens{}, fmt.Errorf("store session of user %d: %w", u.ID, err)
	}
	return tokens, nil
}

// Refresh trades a refresh token for a new access token and a new refresh token; the old
// refresh token is spent. A spent token that comes back revokes its family.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	if len(refreshToken) == 0 || len(refreshToken) > 256 {
		return Tokens{}, ErrBadRefresh
	}
	hash := hashRefresh(refreshToken)
	session, err := s.sessions.SessionByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return Tokens{}, ErrBadRefresh
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("load session: %w", err)
	}
	now := s.now()
	switch {
	case session.Revoked != nil || !now.Before(session.ExpiresAt):
		return Tokens{}, ErrBadRefresh
	case session.Used != nil:
		return Tokens{}, s.reused(ctx, session)
	}
	u, err := s.store.ByID(ctx, session.UserID)
	if errors.Is(err, ErrNotFound) {
		return Tokens{}, ErrBadRefresh
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("refresh for user %d: %w", session.UserID, err)
	}
	tokens, next, err := s.issue(u, session.Family)
	if err != nil {
		return Tokens{}, err
	}
	err = s.sessions.RotateSession(ctx, hash, next, now)
	if errors.Is(err, ErrSessionRevoked) {
		// Logged out, or a reuse was caught, a moment ago.
		return Tokens{}, ErrBadRefresh
	}
	if errors.Is(err, ErrSessionUsed) {
		// Another request spent it a moment ago: the same token used twice.
		return Tokens{}, s.reused(ctx, session)
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("rotate session of user %d: %w", u.ID, err)
	}
	return tokens, nil
}

// reused revokes the family of a refresh token that was used twice.
func (s *Service) reused(ctx context.Context, session Session) error {
	if err := s.sessions.RevokeFamily(ctx, session.Family, s.now()); err != nil {
		return fmt.Errorf("revoke the family of a reused refresh token: %w", err)
	}
	s.notifier.TokensRevoked(session.UserID)
	return ErrRefreshReused
}

// Logout revokes the caller's access token and, when given, the refresh token's family (which
// must be the caller's: another's is left alone, and ErrNotYours says so once the caller's own
// token is revoked, since whoever asked to log out must end up logged out).
func (s *Service) Logout(ctx context.Context, caller auth.Identity, refreshToken string) error {
	if caller.TokenID == "" {
		return ErrNoCaller
	}
	var notYours error
	if refreshToken != "" {
		session, err := s.sessions.SessionByHash(ctx, hashRefresh(refreshToken))
		switch {
		case errors.Is(err, ErrNotFound):
			// Spent or unknown: nothing of it left to revoke.
		case err != nil:
			return fmt.Errorf("logout of user %d: %w", caller.UserID, err)
		case session.UserID != caller.UserID:
			notYours = ErrNotYours
		default:
			if err := s.sessions.RevokeFamily(ctx, session.Family, s.now()); err != nil {
				return fmt.Errorf("logout of user %d: %w", caller.UserID, err)
			}
		}
	}
	// Until the token expires; an identity that does not say when: as long as any could live.
	until := time.Unix(caller.TokenExpires, 0)
	if caller.TokenExpires == 0 {
		until = s.now().Add(s.tokens.TTL() + time.Minute)
	}
	r := Revocation{TokenID: caller.TokenID, Until: until}
	if err := s.sessions.Revoke(ctx, r); err != nil {
		return fmt.Errorf("logout of user %d: %w", caller.UserID, err)
	}
	s.notifier.TokensRevoked(caller.UserID)
	return notYours
}

// Delete removes the caller's account once the password confirms it is them; every token of
// theirs stops working.
func (s *Service) Delete(ctx context.Context, caller auth.Identity, password string) error {
	if caller.UserID == 0 {
		return ErrNoCaller
	}
	if password == "" || len(password) > MaxPasswordBytes {
		return &InvalidInputError{Field: "password", Reason: "is required to delete the account"}
	}
	u, err := s.store.ByID(ctx, caller.UserID)
	if err != nil {
		return fmt.Errorf("delete user %d: %w", caller.UserID, err)
	}
	match, err := s.checkPassword(ctx, u.Username, u.PasswordHash, password)
	if err != nil {
		return lockedOr(err, fmt.Sprintf("delete user %d", caller.UserID))
	}
	if !match {
		return ErrBadCredentials
	}
	now := s.now()
	// Tokens carry whole seconds: every token issued up to this second is revoked, until the
	// last of them has expired.
	r := Revocation{UserID: u.ID, IssuedBefore: now.Unix() + 1, Until: now.Add(s.tokens.TTL() + time.Minute)}
	if err := s.sessions.DeleteUser(ctx, u.ID, r); err != nil {
		return fmt.Errorf("delete user %d: %w", u.ID, err)
	}
	s.notifier.UserDeleted(u.ID)
	s.notifier.TokensRevoked(u.ID)
	return nil
}

// Revocations lists what the gateways must refuse, recorded at or after since.
func (s *Service) Revocations(ctx context.Context, since time.Time) ([]Revocation, time.Time, error) {
	now := s.now()
	list, err := s.sessions.RevocationsSince(ctx, since, now)
	if err != nil {
		return nil, now, fmt.Errorf("list revocations since %s: %w", since.Format(time.RFC3339), err)
	}
	return list, now, nil
}
