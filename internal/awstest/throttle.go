package awstest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Throttler is a local HTTP proxy in front of an AWS endpoint that answers the
// first requests with a ThrottlingException, as AWS does (HTTP 400, the code in
// X-Amzn-ErrorType and in the JSON body's __type), and forwards the others. It
// counts every request that reaches it: the round trips an SDK client made.
type Throttler struct {
	// Endpoint is the proxy's base URL; Config uses it as BaseEndpoint.
	Endpoint string

	mu       sync.Mutex
	throttle int
	requests int
}

// Throttle starts a Throttler for target (a base URL such as Server.Endpoint)
// that throttles the first n requests; it stops when t ends.
func Throttle(t testing.TB, target string, n int) *Throttler {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("awstest: throttle %q: %v", target, err)
	}
	th := &Throttler{throttle: n}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.mu.Lock()
		th.requests++
		throttled := th.requests <= th.throttle
		th.mu.Unlock()
		if !throttled {
			proxy.ServeHTTP(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", "ThrottlingException")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"ThrottlingException","message":"Rate exceeded"}`))
	}))
	t.Cleanup(srv.Close)
	th.Endpoint = srv.URL
	return th
}

// Config is Server.Config with the proxy as the endpoint.
func (th *Throttler) Config(ctx context.Context) aws.Config {
	return configFor(ctx, th.Endpoint)
}

// Requests returns how many requests reached the proxy, throttled or forwarded.
func (th *Throttler) Requests() int {
	th.mu.Lock()
	defer th.mu.Unlock()
	return th.requests
}

// Reset makes the proxy throttle the next n requests and zeroes its count.
func (th *Throttler) Reset(n int) {
	th.mu.Lock()
	defer th.mu.Unlock()
	th.throttle, th.requests = n, 0
}
