package identity

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"slices"
	"strings"
)

// Request is the API request a proof is bound to: what the client sends and what
// the function receives, before any decoding of the body.
type Request struct {
	// Method is the HTTP method, e.g. "POST"; compared upper-cased.
	Method string
	// Path is the request path without the stage prefix or query, e.g.
	// "/access/my_pg_firefighter_rw/approve".
	Path string
	// Query is the query string's parameters; nil and empty are the same.
	Query url.Values
	// Body is the raw request body; nil and empty are the same.
	Body []byte
}

// Digest returns the hex SHA-256 of
// "METHOD\nPATH\nCANONICAL QUERY\nhex(sha256(BODY))", where the canonical query
// is every key=value pair, keys and then values sorted, each url.QueryEscape'd,
// joined by "&". The signer puts it in the signed X-Ffb-Request-Digest header;
// the verifier recomputes it from the request the proof arrived with.
func Digest(r Request) string {
	body := sha256.Sum256(r.Body)
	var b strings.Builder
	b.WriteString(strings.ToUpper(r.Method))
	b.WriteByte('\n')
	b.WriteString(r.Path)
	b.WriteByte('\n')
	b.WriteString(canonicalQuery(r.Query))
	b.WriteByte('\n')
	b.WriteString(hex.EncodeToString(body[:]))
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// canonicalQuery encodes q with sorted keys and, per key, sorted values.
func canonicalQuery(q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var pairs []string
	for _, k := range keys {
		values := slices.Clone(q[k])
		slices.Sort(values)
		for _, v := range values {
			pairs = append(pairs, url.QueryEscape(k)+"="+url.QueryEscape(v))
		}
	}
	return strings.Join(pairs, "&")
}
