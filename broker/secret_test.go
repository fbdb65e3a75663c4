package broker_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/ffbroker/ffbroker/broker"
)

const plaintext = "Sup3r-Secret.Plaintext~Value_0123456789"

// holder is how other packages carry secrets: in exported and unexported
// fields, by value and by pointer.
type holder struct {
	Name     string
	Password broker.Password
	Verifier broker.Verifier
	Ptr      *broker.Password
	hidden   broker.Password
	hiddenV  broker.Verifier
}

func newHolder(t *testing.T) (holder, broker.Password, broker.Verifier) {
	t.Helper()
	p := broker.NewPassword(plaintext)
	v, err := broker.NewVerifier(p, []byte("0123456789abcdef"), broker.SCRAMIterations)
	if err != nil {
		t.Fatalf("NewVerifier() error = %v", err)
	}
	return holder{Name: "h", Password: p, Verifier: v, Ptr: &p, hidden: p, hiddenV: v}, p, v
}

// assertNoSecret fails if out holds the plaintext, the verifier, or a
// recognisable piece of either, in clear or in hex.
func assertNoSecret(t *testing.T, what, out string, v broker.Verifier) {
	t.Helper()
	for _, s := range []string{plaintext, plaintext[:12], v.Reveal(), "SCRAM-SHA-256"} {
		for _, form := range []string{s, hex.EncodeToString([]byte(s)), strings.ToUpper(hex.EncodeToString([]byte(s)))} {
			if strings.Contains(out, form) {
				t.Errorf("%s = %q; holds secret %q", what, out, form)
			}
		}
	}
}

func TestSecretsDoNotLeakThroughFmt(t *testing.T) {
	h, p, v := newHolder(t)
	values := map[string]any{
		"password":          p,
		"*password":         &p,
		"verifier":          v,
		"*verifier":         &v,
		"struct":            h,
		"*struct":           &h,
		"slice":             []broker.Password{p, p},
		"map":               map[string]broker.Verifier{"v": v},
		"anonymous wrapper": struct{ p broker.Password }{p},
		"error":             fmt.Errorf("connect with %v failed", p),
	}
	for name, val := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%T %v"} {
			t.Run(name+" "+verb, func(t *testing.T) {
				out := fmt.Sprintf(verb, val)
				assertNoSecret(t, fmt.Sprintf("Sprintf(%q, %s)", verb, name), out, v)
			})
		}
	}
	t.Run("Sprint and Sprintln", func(t *testing.T) {
		out := fmt.Sprint(p, v, h) + fmt.Sprintln(p, v, &h)
		assertNoSecret(t, "Sprint(...)", out, v)
	})
	t.Run("String and GoString", func(t *testing.T) {
		for _, got := range []string{p.String(), p.GoString(), v.String(), v.GoString()} {
			if got != broker.Redacted {
				t.Errorf("String()/GoString() = %q; want %q", got, broker.Redacted)
			}
		}
	})
	t.Run("%q is quoted", func(t *testing.T) {
		if got, want := fmt.Sprintf("%q", p), `"[REDACTED]"`; got != want {
			t.Errorf(`Sprintf("%%q", p) = %s; want %s`, got, want)
		}
	})
}

func TestSecretsDoNotLeakThroughJSON(t *testing.T) {
	h, p, v := newHolder(t)
	out, err := json.Marshal(h)
	if err != nil {
		t.Fatalf("json.Marshal(holder) error = %v", err)
	}
	assertNoSecret(t, "json.Marshal(holder)", string(out), v)
	want := `{"Name":"h","Password":"[REDACTED]","Verifier":"[REDACTED]","Ptr":"[REDACTED]"}`
	if string(out) != want {
		t.Errorf("json.Marshal(holder) = %s; want %s", out, want)
	}
	out, err = json.Marshal(map[string]broker.Verifier{"v": v})
	if err != nil {
		t.Fatalf("json.Marshal(map) error = %v", err)
	}
	assertNoSecret(t, "json.Marshal(map)", string(out), v)
	text, err := p.MarshalText()
	if err != nil || string(text) != broker.Redacted {
		t.Errorf("MarshalText() = %q, %v; want %q", text, err, broker.Redacted)
	}
}

func TestSecretsCannotBeUnmarshalled(t *testing.T) {
	var h struct{ Password broker.Password }
	if err := json.Unmarshal([]byte(`{"Password":"x"}`), &h); err == nil {
		t.Errorf("json.Unmarshal into Password error = nil; want an error (no silent empty password)")
	}
}

func TestSecretsDoNotLeakThroughSlog(t *testing.T) {
	h, p, v := newHolder(t)
	handlers := map[string]func(*bytes.Buffer) slog.Handler{
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
	}
	for name, newHandler := range handlers {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(newHandler(&buf))
			log.Info("issued", "password", p, "verifier", v, "holder", h, "ptr", &h,
				slog.Any("any", p), slog.Group("g", "p", p), "err", errors.New(fmt.Sprint(p)))
			log.With("password", p).Error("failed", "verifier", &v)
			assertNoSecret(t, name+" log", buf.String(), v)
			if !strings.Contains(buf.String(), broker.Redacted) {
				t.Errorf("%s log = %s; want %s", name, buf.String(), broker.Redacted)
			}
		})
	}
}

func TestPasswordReveal(t *testing.T) {
	p := broker.NewPassword(plaintext)
	if got := p.Reveal(); got != plaintext {
		t.Errorf("Reveal() = %q; want %q", got, plaintext)
	}
	if got := p.Len(); got != len(plaintext) {
		t.Errorf("Len() = %d; want %d", got, len(plaintext))
	}
	var zero broker.Password
	if zero.Reveal() != "" || zero.Len() != 0 || zero.String() != broker.Redacted {
		t.Errorf("zero Password: Reveal() = %q, Len() = %d, String() = %q; want \"\", 0, %q", zero.Reveal(), zero.Len(), zero.String(), broker.Redacted)
	}
	var zeroV broker.Verifier
	if zeroV.Reveal() != "" || zeroV.Len() != 0 {
		t.Errorf("zero Verifier: Reveal() = %q, Len() = %d; want \"\", 0", zeroV.Reveal(), zeroV.Len())
	}
}
