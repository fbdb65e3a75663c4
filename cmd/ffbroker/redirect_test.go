package main

// Red team 3 (issue 11, the client). Each test fails while its attack works; the
// comment gives the severity and a proposed fix.

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Red team 3, attack 5 (low: the identity proof and the SigV4-signed call leave for a
// host the user never configured, and the plain-http refusal is bypassed). The
// client's http.Client follows redirects: an API URL that answers 307 (a stale or
// hostile endpoint in the config file, which is read whatever its owner or mode, a
// captive portal, a proxy) sends the call on, with its X-Ffb-Identity header and
// body, to wherever Location says, also to plain http on a remote host, which the
// configured URL itself may not be. A proof is a signed sts:GetCallerIdentity that
// anyone on the path can replay for 5 minutes (the exact request, e.g. an approval).
// Fix: CheckRedirect returning http.ErrUseLastResponse (an API never redirects; the
// 3xx becomes an error), and refuse a config file that others may write.
func TestRedTeam3ClientFollowsRedirectsWithTheProof(t *testing.T) {
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Method+" "+r.URL.Path+" proof="+strings.Repeat("x", min(len(r.Header.Get("X-Ffb-Identity")), 8)))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"requests":[]}`))
	}))
	defer other.Close()
	// Another host name for the same loopback address: a different host to the client.
	elsewhere := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere+"/collect"+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer api.Close()
	e := baseEnv(t).with("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY", "secret-of-the-test-0123456789",
		"FFB_SERVER_ID", "ffb-test", "AWS_ENDPOINT_URL", "http://127.0.0.1:1")
	code, out, errOut := clientRun(t, e, "requests", "--json", "--api", api.URL)
	mu.Lock()
	defer mu.Unlock()
	if len(leaked) > 0 {
		t.Errorf("the client followed the API's redirect to %s and sent it %v (exit %d, stdout %q, stderr %q); want no call but to the configured API",
			elsewhere, leaked, code, out, errOut)
	}
}
