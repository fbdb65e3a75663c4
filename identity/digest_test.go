package identity_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"testing"

	"github.com/ffbroker/ffbroker/identity"
)

func TestDigest(t *testing.T) {
	hexSum := func(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }
	t.Run("the documented formula", func(t *testing.T) {
		r := identity.Request{Method: "post", Path: "/access/my_pg_firefighter_rw", Query: url.Values{"b": {"2", "1"}, "a x": {"é&"}}, Body: []byte(`{"hours":1}`)}
		want := hexSum("POST\n/access/my_pg_firefighter_rw\na+x=%C3%A9%26&b=1&b=2\n" + hexSum(`{"hours":1}`))
		if got := identity.Digest(r); got != want {
			t.Errorf("Digest(%+v) = %s; want %s", r, got, want)
		}
	})
	base := identity.Request{Method: "POST", Path: "/access/x", Query: url.Values{"a": {"1"}}, Body: []byte("{}")}
	same := []struct {
		name string
		r    identity.Request
	}{
		{"method case", identity.Request{Method: "post", Path: "/access/x", Query: url.Values{"a": {"1"}}, Body: []byte("{}")}},
		{"query built in another order", identity.Request{Method: "POST", Path: "/access/x", Query: url.Values{"a": {"1"}, "b": nil}, Body: []byte("{}")}},
	}
	for _, tc := range same {
		t.Run("same: "+tc.name, func(t *testing.T) {
			if identity.Digest(tc.r) != identity.Digest(base) {
				t.Errorf("Digest(%+v) != Digest(%+v); want equal", tc.r, base)
			}
		})
	}
	if identity.Digest(identity.Request{Method: "GET", Path: "/"}) != identity.Digest(identity.Request{Method: "GET", Path: "/", Query: url.Values{}, Body: []byte{}}) {
		t.Errorf("Digest with nil query and body != with empty ones; want equal")
	}
	differ := []struct {
		name string
		r    identity.Request
	}{
		{"method", identity.Request{Method: "PUT", Path: "/access/x", Query: url.Values{"a": {"1"}}, Body: []byte("{}")}},
		{"path", identity.Request{Method: "POST", Path: "/access/y", Query: url.Values{"a": {"1"}}, Body: []byte("{}")}},
		{"path with the query moved into it", identity.Request{Method: "POST", Path: "/access/x?a=1", Body: []byte("{}")}},
		{"query value", identity.Request{Method: "POST", Path: "/access/x", Query: url.Values{"a": {"2"}}, Body: []byte("{}")}},
		{"query key", identity.Request{Method: "POST", Path: "/access/x", Query: url.Values{"b": {"1"}}, Body: []byte("{}")}},
		{"extra query value", identity.Request{Method: "POST", Path: "/access/x", Query: url.Values{"a": {"1", "1"}}, Body: []byte("{}")}},
		{"body", identity.Request{Method: "POST", Path: "/access/x", Query: url.Values{"a": {"1"}}, Body: []byte("{ }")}},
		{"query moved into the body", identity.Request{Method: "POST", Path: "/access/x", Body: []byte("a=1\n{}")}},
		{"separator smuggled into a value", identity.Request{Method: "POST", Path: "/access/x", Query: url.Values{"a": {"1&b=2"}}, Body: []byte("{}")}},
	}
	for _, tc := range differ {
		t.Run("differs: "+tc.name, func(t *testing.T) {
			if identity.Digest(tc.r) == identity.Digest(base) {
				t.Errorf("Digest(%+v) == Digest(%+v); want different", tc.r, base)
			}
		})
	}
}
