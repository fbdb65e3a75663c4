package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// The client never follows a redirect: an API URL that answers 307 (a stale or
// hostile endpoint, a captive portal, a proxy) would otherwise send the call, with its
// identity proof and body, to wherever Location says. The 3xx is the answer: exit 1
// with its HTTP status as the code, and nothing reaches the other host.
func TestClientDoesNotFollowRedirects(t *testing.T) {
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
	if code != exitFailed || out != "" || !strings.Contains(errOut, `"code":"http_307"`) {
		t.Errorf("requests against an API that redirects = exit %d, stdout %q, stderr %q; want exit 1, error code http_307", code, out, errOut)
	}
}
