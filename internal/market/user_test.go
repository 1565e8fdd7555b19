package market_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bazaarhq/bazaar/internal/market"
)

func TestSignupValidate(t *testing.T) {
	t.Parallel()
	valid := func() market.Signup {
		return market.Signup{Email: "ada@example.com", DisplayName: "Ada", Password: "a long unusual passphrase"}
	}
	tests := []struct {
		name   string
		change func(*market.Signup)
		field  string // "" means valid
		msg    string
	}{
		{"valid", func(*market.Signup) {}, "", ""},
		{"email trimmed", func(s *market.Signup) { s.Email = "  ada@example.com\n" }, "", ""},
		{"email empty", func(s *market.Signup) { s.Email = " " }, "email", "Email is required"},
		{"email without at", func(s *market.Signup) { s.Email = "ada.example.com" }, "email", "Email must be an address such as ada@example.com"},
		{"email with name", func(s *market.Signup) { s.Email = "Ada <ada@example.com>" }, "email", "Email must be an address such as ada@example.com"},
		{"email without domain dot", func(s *market.Signup) { s.Email = "ada@localhost" }, "email", "Email must be an address such as ada@example.com"},
		{"email with newline", func(s *market.Signup) { s.Email = "ada@example.com\r\nBcc: x@y.z" }, "email", "Email must be an address such as ada@example.com"},
		{"email too long", func(s *market.Signup) { s.Email = strings.Repeat("a", 64) + "@" + strings.Repeat("b", 186) + ".com" }, "email", "Email must be at most 254 characters"},
		{"display name empty", func(s *market.Signup) { s.DisplayName = "\t" }, "display_name", "Display name is required"},
		{"display name 50 runes", func(s *market.Signup) { s.DisplayName = strings.Repeat("é", 50) }, "", ""},
		{"display name 51 runes", func(s *market.Signup) { s.DisplayName = strings.Repeat("é", 51) }, "display_name", "Display name must be at most 50 characters"},
		{"display name control", func(s *market.Signup) { s.DisplayName = "Ada\x1b[31m" }, "display_name", "Display name must not contain control characters"},
		{"password empty", func(s *market.Signup) { s.Password = "" }, "password", "Password is required"},
		{"password 7 characters", func(s *market.Signup) { s.Password = "k9#Lq2!" }, "password", "Password must be at least 8 characters"},
		{"password 8 multibyte characters", func(s *market.Signup) { s.Password = "ééééééé1" }, "", ""},
		{"password 1024 bytes", func(s *market.Signup) { s.Password = strings.Repeat("x", 1023) + "y" }, "", ""},
		{"password 1025 bytes", func(s *market.Signup) { s.Password = strings.Repeat("x", 1024) + "y" }, "password", "Password must be at most 1,024 bytes"},
		{"password not trimmed", func(s *market.Signup) { s.Password = "  k9#Lq2 " }, "", ""},
		{"common password", func(s *market.Signup) { s.Password = "password1" }, "password", "That password is one of the most common ones; please choose another"},
		{"common password in capitals", func(s *market.Signup) { s.Password = "BaseBall1" }, "password", "That password is one of the most common ones; please choose another"},
		{"common long password", func(s *market.Signup) { s.Password = "qwertyuiop" }, "password", "That password is one of the most common ones; please choose another"},
		{"password invalid UTF-8", func(s *market.Signup) { s.Password = "abcdefgh\xff" }, "password", "Password must be valid UTF-8 text"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := valid()
			tt.change(&s)
			err := s.Validate()
			fields := market.ErrorFields(err)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if market.ErrorCode(err) != market.EINVALID || fields[tt.field] != tt.msg {
				t.Fatalf("Validate() = %v, want %s: %q", err, tt.field, tt.msg)
			}
			if len(fields) != 1 {
				t.Fatalf("fields = %v, want only %s", fields, tt.field)
			}
		})
	}
}

func TestCommonPasswordList(t *testing.T) {
	t.Parallel()
	if n := market.CommonPasswordCount(); n < 10_000 {
		t.Fatalf("the common password list holds %d passwords, want at least 10,000", n)
	}
	for _, pw := range []string{"12345678", "password", "iloveyou", "sunshine", "football1"} {
		if !market.IsCommonPassword(pw) {
			t.Errorf("%q is not on the list", pw)
		}
	}
	if market.IsCommonPassword("a long unusual passphrase") {
		t.Error("an unusual passphrase is on the list")
	}
}

func TestNewSecret(t *testing.T) {
	t.Parallel()
	a, ha := market.NewSecret()
	b, hb := market.NewSecret()
	if a == b || bytes.Equal(ha, hb) {
		t.Fatal("two secrets are equal")
	}
	if !strings.HasPrefix(a, "bzr_") || len(a) < 40 {
		t.Fatalf("secret %q: want bzr_ and 256 bits", a)
	}
	if !bytes.Equal(market.HashSecret(a), ha) || len(ha) != 32 {
		t.Fatal("HashSecret does not give the stored hash")
	}
}
