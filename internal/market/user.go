package market

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"net/mail"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Account rules.
const (
	// MinPasswordLen is counted in characters: what people count.
	MinPasswordLen = 8
	// MaxPasswordBytes is counted in bytes: what the hash consumes. Longer
	// passwords are refused, never cut, so no two passwords ever share a hash
	// because their tails were dropped.
	MaxPasswordBytes = 1024
	MaxEmailLen      = 254 // RFC 5321's limit on a forward path
	MaxDisplayName   = 50
	MaxTokenName     = 100
)

// User is a person with an account: a seller, a buyer, or both.
type User struct {
	ID          int64
	Email       string
	DisplayName string
	// PasswordHash is the argon2id hash in PHC string form. It never leaves
	// the server: no page or API object carries it.
	PasswordHash string
	CreatedAt    time.Time
}

// Signup is what a person types to open an account.
type Signup struct {
	Email       string
	DisplayName string
	Password    string
}

// Validate checks every rule of a sign-up and returns an EINVALID *Error
// with a message per field, or nil. Email and display name are trimmed;
// the password is taken exactly as typed.
func (s *Signup) Validate() error {
	p := Problems{}
	s.Email = ValidateEmail(p, s.Email)
	s.DisplayName = ValidateDisplayName(p, s.DisplayName)
	ValidatePassword(p, "password", s.Password)
	return p.Err()
}

// ValidateEmail adds the problem with email to p, if any, and returns it
// trimmed. Addresses are compared case-insensitively by the store.
func ValidateEmail(p Problems, email string) string {
	email = strings.TrimSpace(email)
	switch {
	case email == "":
		p.Add("email", "Email is required")
	case len(email) > MaxEmailLen:
		p.Add("email", "Email must be at most 254 characters")
	case !utf8.ValidString(email) || hasControl(email, false):
		p.Add("email", "Email must be an address such as ada@example.com")
	default:
		// net/mail also accepts "Ada <ada@example.com>"; an account's email
		// is the bare address only.
		a, err := mail.ParseAddress(email)
		if err != nil || a.Address != email || !strings.Contains(email[strings.LastIndexByte(email, '@')+1:], ".") {
			p.Add("email", "Email must be an address such as ada@example.com")
		}
	}
	return email
}

// ValidateDisplayName adds the problem with name to p, if any, and returns
// it trimmed.
func ValidateDisplayName(p Problems, name string) string {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		p.Add("display_name", "Display name must be valid UTF-8 text")
	case n == 0:
		p.Add("display_name", "Display name is required")
	case n > MaxDisplayName:
		p.Add("display_name", "Display name must be at most 50 characters")
	case hasControl(name, false):
		p.Add("display_name", "Display name must not contain control characters")
	}
	return name
}

// ValidatePassword adds the problem with a new password to p under field,
// if any. It is the one rule for every place a password is chosen: sign-up
// (page and API), the account page and the reset link.
func ValidatePassword(p Problems, field, pw string) {
	switch {
	case pw == "":
		p.Add(field, "Password is required")
	case len(pw) > MaxPasswordBytes:
		p.Add(field, "Password must be at most 1,024 bytes")
	case !utf8.ValidString(pw):
		p.Add(field, "Password must be valid UTF-8 text")
	case utf8.RuneCountInString(pw) < MinPasswordLen:
		p.Add(field, "Password must be at least 8 characters")
	case IsCommonPassword(pw):
		p.Add(field, "That password is one of the most common ones; please choose another")
	}
}

//go:embed commonpasswords/passwords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 16_000)
	sc := bufio.NewScanner(strings.NewReader(commonPasswordList))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" {
			m[w] = struct{}{}
		}
	}
	return m
})

// CommonPasswordCount is how many passwords the common list holds.
func CommonPasswordCount() int { return len(commonPasswords()) }

// IsCommonPassword reports whether pw, ignoring case, is on the list of
// common passwords kept in commonpasswords/ (see its README for source and
// licence). Case is ignored because "Password1" is guessed as early as
// "password1".
func IsCommonPassword(pw string) bool {
	_, ok := commonPasswords()[strings.ToLower(pw)]
	return ok
}

// APIToken is a named credential for the API. Its secret is shown once, at
// creation; the store keeps only its SHA-256.
type APIToken struct {
	ID         int64
	UserID     int64
	Name       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
}

// tokenPrefix marks Bazaar's secrets so secret scanners and people can
// recognise a leaked one.
const tokenPrefix = "bzr_"

// NewSecret returns a random secret (256 bits, URL-safe) for an API token
// or a password reset link, and the hash under which the store keeps it.
func NewSecret() (secret string, hash []byte) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	secret = tokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashSecret(secret)
}

// HashSecret is the hash a secret is stored and looked up under. SHA-256
// without salt is enough here, unlike for passwords: the secret has 256
// bits of entropy, so there is nothing to guess, and an unsalted hash can
// be looked up by equality.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// ValidateTokenName adds the problem with an API token's name to p, if
// any, and returns it trimmed.
func ValidateTokenName(p Problems, name string) string {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		p.Add("name", "Name must be valid UTF-8 text")
	case n == 0:
		p.Add("name", "Name is required")
	case n > MaxTokenName:
		p.Add("name", "Name must be at most 100 characters")
	case hasControl(name, false):
		p.Add("name", "Name must not contain control characters")
	}
	return name
}

// Login limits: failed logins are counted in PostgreSQL so that they hold
// across replicas. See README "Security" for why the per-account count is
// kept per client address.
const (
	LoginWindow = 15 * time.Minute
	// MaxFailuresPerAccount bounds failures for one account from one client
	// address in LoginWindow.
	MaxFailuresPerAccount = 10
	// MaxFailuresPerAddress bounds failures from one client address over all
	// accounts in LoginWindow; higher, since many people share an address
	// behind NAT.
	MaxFailuresPerAddress = 50
	// PasswordResetTTL is how long a reset link works.
	PasswordResetTTL = time.Hour
)

// Mail is one message for the outbox.
type Mail struct {
	ID      int64
	To      string
	Subject string
	Body    string
}
