package square

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Token lifetimes Square documents.
const (
	// AccessTokenLifetime is how long an access token lives.
	AccessTokenLifetime = 30 * 24 * time.Hour
	// ShortLivedLifetime is how long a short_lived access token lives; it is
	// also the lifetime assumed when an answer's expires_at is unusable.
	ShortLivedLifetime = 24 * time.Hour
	// PKCERefreshTokenLifetime is how long a refresh token obtained under
	// PKCE lives. Code-flow refresh tokens do not expire.
	PKCERefreshTokenLifetime = 90 * 24 * time.Hour
)

// Token extras [DecodeAnswer] sets, read with [oauth2.Token.Extra].
const (
	ExtraMerchantID            = "merchant_id"
	ExtraShortLived            = "short_lived"
	ExtraRefreshTokenExpiresAt = "refresh_token_expires_at"
)

// Sentinel errors of the answer decoder.
var (
	// ErrBadExpiresAt means expires_at was missing or not RFC 3339. The
	// token is kept, expiring [ShortLivedLifetime] after the answer, because
	// its refresh token may be the only live one (PKCE).
	ErrBadExpiresAt = errors.New("square: unusable expires_at")
	// ErrBadAnswer means a 2xx answer could not be used: not JSON, or no
	// access token. Nothing in it is stored.
	ErrBadAnswer = errors.New("square: unusable token answer")
)

// Answer is a decoded ObtainToken answer.
type Answer struct {
	// Token carries the access and refresh tokens, the expiry from
	// expires_at and, as extras, merchant_id, short_lived and
	// refresh_token_expires_at (a time.Time, when present).
	Token *oauth2.Token
	// MerchantID is the seller the token acts for.
	MerchantID string
	// ShortLived reports a 24-hour access token.
	ShortLived bool
	// RefreshTokenExpiresAt is when a PKCE refresh token dies; zero for the
	// code flow, whose refresh tokens do not expire.
	RefreshTokenExpiresAt time.Time
	// Anomaly is [ErrBadExpiresAt] (wrapped) when the expiry was guessed, or
	// nil. The token is usable either way.
	Anomaly error
}

// wireAnswer is the answer as Square spells it. Fields that must be strings
// are raw so that a hostile type is told apart from an absent field.
type wireAnswer struct {
	AccessToken           json.RawMessage `json:"access_token"`
	TokenType             json.RawMessage `json:"token_type"`
	ExpiresAt             json.RawMessage `json:"expires_at"`
	MerchantID            json.RawMessage `json:"merchant_id"`
	RefreshToken          json.RawMessage `json:"refresh_token"`
	ShortLived            json.RawMessage `json:"short_lived"`
	RefreshTokenExpiresAt json.RawMessage `json:"refresh_token_expires_at"`
}

// str reads a JSON string; anything else (absent, null, a number) is "".
func str(raw json.RawMessage) (string, bool) {
	var s string
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// DecodeAnswer reads a 2xx ObtainToken body. now is when the answer
// arrived, for the fallback expiry. A body that is not a JSON object with a
// string access_token is [ErrBadAnswer]; the error never quotes the body,
// which holds the tokens.
func DecodeAnswer(body []byte, now time.Time) (*Answer, error) {
	var w wireAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrBadAnswer)
	}
	at, ok := str(w.AccessToken)
	if !ok || at == "" {
		return nil, fmt.Errorf("%w: no access_token string", ErrBadAnswer)
	}
	if tt, _ := str(w.TokenType); tt != "" && !strings.EqualFold(tt, "bearer") {
		return nil, fmt.Errorf("%w: token_type %s is not bearer", ErrBadAnswer, word(tt))
	}
	a := &Answer{}
	a.MerchantID, _ = str(w.MerchantID)
	_ = json.Unmarshal(w.ShortLived, &a.ShortLived) // absent or not a bool: false
	rt, _ := str(w.RefreshToken)
	tok := &oauth2.Token{AccessToken: at, TokenType: "Bearer", RefreshToken: rt}
	exp, err := ParseExpiresAt(rawText(w.ExpiresAt))
	if err != nil {
		exp = now.Add(ShortLivedLifetime)
		a.Anomaly = err
	}
	tok.Expiry = exp
	extra := map[string]any{ExtraMerchantID: a.MerchantID, ExtraShortLived: a.ShortLived}
	if s, ok := str(w.RefreshTokenExpiresAt); ok && s != "" {
		if t, err := ParseExpiresAt(s); err == nil {
			a.RefreshTokenExpiresAt = t
			extra[ExtraRefreshTokenExpiresAt] = t
		}
	}
	a.Token = tok.WithExtra(extra)
	return a, nil
}

// rawText is a JSON string's value, or the raw bytes when it is not one, so
// that ParseExpiresAt can say what was wrong.
func rawText(raw json.RawMessage) string {
	if s, ok := str(raw); ok {
		return s
	}
	return string(raw)
}

// maxTimeText bounds what ParseExpiresAt reads: RFC 3339 with nanoseconds
// and an offset is 35 bytes.
const maxTimeText = 64

// ParseExpiresAt parses Square's expires_at (RFC 3339, with or without
// fractional seconds, any offset) into UTC. Empty, too long or malformed
// text is [ErrBadExpiresAt]; years before 2000 or after 9999 are refused
// too, since a token dated then is a server bug.
func ParseExpiresAt(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, fmt.Errorf("%w: absent", ErrBadExpiresAt)
	}
	if len(s) > maxTimeText {
		return time.Time{}, fmt.Errorf("%w: %d bytes", ErrBadExpiresAt, len(s))
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s", ErrBadExpiresAt, word(s))
	}
	if y := t.Year(); y < 2000 || y > 9999 {
		return time.Time{}, fmt.Errorf("%w: year %d", ErrBadExpiresAt, y)
	}
	return t.UTC(), nil
}

// MerchantID returns the merchant_id extra of a token from [DecodeAnswer],
// or "".
func MerchantID(tok *oauth2.Token) string {
	s, _ := tok.Extra(ExtraMerchantID).(string)
	return s
}

// RefreshTokenExpiry returns when tok's refresh token dies (PKCE), or the
// zero time when it does not expire or is unknown. It reads the extra as
// [DecodeAnswer] sets it (a time.Time) and as the engine and the stores
// keep it (RFC 3339 text; see [Provider.Policy]).
func RefreshTokenExpiry(tok *oauth2.Token) time.Time {
	switch v := tok.Extra(ExtraRefreshTokenExpiresAt).(type) {
	case time.Time:
		return v
	case string:
		t, _ := time.Parse(time.RFC3339Nano, v)
		return t
	}
	return time.Time{}
}
