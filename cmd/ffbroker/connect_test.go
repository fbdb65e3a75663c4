package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/ffbroker/ffbroker/broker"
)

// fakePostgres is a server on a loopback address of its own that speaks enough of
// the PostgreSQL protocol to ask a client for its password in clear
// (AuthenticationCleartextPassword), and records what it receives.
type fakePostgres struct {
	host string
	port int

	mu       sync.Mutex
	conns    int    // connections accepted
	received int    // bytes received, TLS records included
	startup  bool   // a StartupMessage arrived
	password []byte // the body of a PasswordMessage, if one arrived
}

// startFakePostgres listens on host and port (0: any); with cert, it accepts an
// SSLRequest.
func startFakePostgres(t *testing.T, host string, port int, cert *tls.Certificate) *fakePostgres {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("listen on %s (another loopback address): %v", host, err)
	}
	f := &fakePostgres{host: host, port: l.Addr().(*net.TCPAddr).Port}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.conns++
			f.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(30 * time.Second))
				f.serve(&countingConn{Conn: c, f: f}, cert)
			}()
		}
	}()
	t.Cleanup(func() { l.Close(); wg.Wait() })
	return f
}

type countingConn struct {
	net.Conn
	f *fakePostgres
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.f.mu.Lock()
	c.f.received += n
	c.f.mu.Unlock()
	return n, err
}

func (f *fakePostgres) serve(c net.Conn, cert *tls.Certificate) {
	var rw io.ReadWriter = c
	for {
		var head [8]byte
		if _, err := io.ReadFull(rw, head[:]); err != nil {
			return
		}
		n, code := binary.BigEndian.Uint32(head[:4]), binary.BigEndian.Uint32(head[4:])
		switch {
		case code == 80877103 && cert != nil: // SSLRequest
			if _, err := rw.Write([]byte("S")); err != nil {
				return
			}
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			rw = tc
		case code == 80877103 || code == 80877104: // SSLRequest, GSSENCRequest
			if _, err := rw.Write([]byte("N")); err != nil {
				return
			}
		case code == 196608: // StartupMessage, protocol 3.0
			if n < 8 || n > 10000 || discard(rw, int(n)-8) != nil {
				return
			}
			f.mu.Lock()
			f.startup = true
			f.mu.Unlock()
			if _, err := rw.Write([]byte{'R', 0, 0, 0, 8, 0, 0, 0, 3}); err != nil {
				return
			}
			typ, body, err := readMessage(rw)
			if err == nil && typ == 'p' {
				f.mu.Lock()
				f.password = body
				f.mu.Unlock()
			}
			msg := "SFATAL\x00C28P01\x00Mfake server\x00\x00"
			_, _ = rw.Write(append([]byte{'E', 0, 0, 0, byte(4 + len(msg))}, msg...))
			return
		default:
			return
		}
	}
}

func discard(r io.Reader, n int) error {
	_, err := io.CopyN(io.Discard, r, int64(n))
	return err
}

func readMessage(r io.Reader) (byte, []byte, error) {
	var head [5]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(head[1:])
	if n < 4 || n > 10000 {
		return 0, nil, errors.New("bad length")
	}
	body := make([]byte, n-4)
	_, err := io.ReadFull(r, body)
	return head[0], body, err
}

// seen returns what f received: connections, bytes, a startup, the password.
func (f *fakePostgres) seen() (conns, received int, startup bool, password string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns, f.received, f.startup, strings.TrimRight(string(f.password), "\x00")
}

// recordingPsql is a --psql that writes its arguments and environment, one a line,
// into dir (args, env) and then runs psql, with ldPath as LD_LIBRARY_PATH if set.
func recordingPsql(t *testing.T, dir, ldPath string) string {
	t.Helper()
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + dir + "/args\nenv > " + dir + "/env\n"
	if ldPath != "" {
		script += "LD_LIBRARY_PATH=" + ldPath + " "
	}
	script += "exec psql \"$@\"\n"
	p := filepath.Join(dir, "psql")
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// printedConninfo is the connection string connect said it gives psql.
func printedConninfo(t *testing.T, stderr string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "psql -d "); ok {
			return s
		}
	}
	t.Fatalf("connect printed no psql line:\n%s", stderr)
	return ""
}

// TestConnectIgnoresTheCallersLibpqEnvironment runs connect in an environment whose
// service file, PG* variables and psqlrc all point psql at another server without
// TLS: psql reaches the real cluster with what connect printed, the other server
// receives not a byte, and psql's environment holds none of them.
func TestConnectIgnoresTheCallersLibpqEnvironment(t *testing.T) {
	f := setup(t, "conn")
	ro := f.names.FirefighterRO
	checkRun(t, []string{"issue", "--role", "ro", "--incident", "INC-31", "--reason", "latency"}, exitOK, "access issued: "+ro, "")
	// The other server listens on the cluster's port: the passfile's line for the
	// cluster's host and port would match it.
	port := strconv.Itoa(shared.Cluster.Port)
	fake := startFakePostgres(t, "127.0.0.2", shared.Cluster.Port, nil)

	caller := t.TempDir()
	service := "[ffb]\nhostaddr=127.0.0.2\nsslmode=disable\n"
	for _, name := range []string{"services", "pg_service.conf"} {
		if err := os.WriteFile(filepath.Join(caller, name), []byte(service), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	marker := filepath.Join(caller, "psqlrc-ran")
	rc := `\! touch ` + marker + "\n" + `\connect service=ffb` + "\n"
	for _, name := range []string{"psqlrc", "psqlrc-system"} {
		if err := os.WriteFile(filepath.Join(caller, name), []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for k, v := range map[string]string{
		"PGSERVICE": "ffb", "PGSERVICEFILE": filepath.Join(caller, "services"), "PGSYSCONFDIR": caller,
		"PGHOST": shared.Cluster.Host, "PGHOSTADDR": "127.0.0.2", "PGPORT": port, "PGSSLMODE": "disable", "PGREQUIRESSL": "0",
		"PGGSSENCMODE": "disable", "PGOPTIONS": "-c search_path=evil", "PGCHANNELBINDING": "disable",
		"PGPASSFILE": filepath.Join(caller, "pgpass"), "PSQLRC": filepath.Join(caller, "psqlrc"),
	} {
		t.Setenv(k, v)
	}

	rec := t.TempDir()
	args := []string{"connect", "--role", "ro", "--psql", recordingPsql(t, rec, ""), "--", "-A", "-t", "-c",
		"SELECT current_user || ' ' || inet_server_port() || ' ' || current_setting('search_path')"}
	code, out, errOut := ffb(t, args...)
	wantOut := ro + " " + port + ` "$user", public` + "\n"
	if code != exitOK || out != wantOut {
		t.Errorf("connect with the caller's PGSERVICE, PGHOSTADDR, PGSSLMODE=disable, ... = exit %d, stdout %q\nstderr %s\nwant exit 0, stdout %q (the cluster, default search_path)",
			code, out, errOut, wantOut)
	}
	if conns, n, _, pw := fake.seen(); conns != 0 || n != 0 || pw != "" {
		t.Errorf("the server the caller's environment names got %d connection(s), %d byte(s), password %t; want none", conns, n, pw != "")
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("psql ran the caller's psqlrc (%v); want it unread", err)
	}
	given := readLines(t, filepath.Join(rec, "args"))
	if got := printedConninfo(t, errOut); len(given) < 2 || given[len(given)-2] != "-d" || given[len(given)-1] != got {
		t.Errorf("connect printed psql -d %q; psql was given %q", got, given)
	}
	for _, kv := range readLines(t, filepath.Join(rec, "env")) {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "PGSYSCONFDIR" || k == "PGSERVICEFILE" || k == "PGPASSFILE":
			if strings.HasPrefix(v, caller) {
				t.Errorf("psql's environment has the caller's %s", kv)
			}
		case k == "PSQLRC":
			if v != os.DevNull {
				t.Errorf("psql's environment has %s; want PSQLRC=%s", kv, os.DevNull)
			}
		case strings.HasPrefix(k, "PG") || strings.HasPrefix(k, "AWS_") || strings.HasPrefix(k, "FFB_"):
			t.Errorf("psql's environment has the caller's %s", k)
		}
	}
}

// testCA is a throwaway CA with one server certificate for host.
func testCA(t *testing.T, dir, host string) (caFile string, cert tls.Certificate) {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, srvKey := key(), key()
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "connect test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IPAddresses: []net.IP{net.ParseIP(host)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
}

// libpq16 is the lib directory of a PostgreSQL 16+ of the test matrix, whose
// libpq.so.5 the system psql can load: a libpq that knows require_auth. When the
// matrix's cache has none, scripts/pg-fetch brings PostgreSQL 17 (as make test-matrix
// does), so a clean checkout tests require_auth too.
func libpq16(t *testing.T) string {
	t.Helper()
	for _, major := range []string{"18", "17", "16"} {
		dir, err := filepath.Abs(filepath.Join("..", "..", ".cache", "pg", major, "package", "native", "lib"))
		if _, serr := os.Stat(filepath.Join(dir, "libpq.so.5")); err == nil && serr == nil {
			return dir
		}
	}
	out, err := exec.Command(filepath.Join("..", "..", "scripts", "pg-fetch"), "17").Output()
	if err == nil {
		if _, bin, ok := strings.Cut(strings.TrimSpace(string(out)), "\t"); ok {
			dir := filepath.Join(filepath.Dir(bin), "lib")
			if _, serr := os.Stat(filepath.Join(dir, "libpq.so.5")); serr == nil {
				return dir
			}
		}
		err = fmt.Errorf("scripts/pg-fetch 17 printed %q and no libpq.so.5 beside it", out)
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("no libpq 16+ in .cache/pg and scripts/pg-fetch 17 failed: %v", err)
	}
	t.Skipf("SKIPPED LOUDLY: no libpq 16+ in .cache/pg and scripts/pg-fetch 17 failed (%v): require_auth is not tested", err)
	return ""
}

// putSecret makes the ro secret of f's deployment name host:port with sslmode.
func putSecret(t *testing.T, f *fixture, host string, port int, sslMode, password string) {
	t.Helper()
	ctx := context.Background()
	sm := secretsmanager.NewFromConfig(f.srv.Config(ctx))
	name := broker.SecretName("firefighter/"+f.prefix, f.names.FirefighterRO)
	v := broker.SecretValue{Engine: "postgres", Host: host, Port: port, DBName: f.names.DB, Username: f.names.FirefighterRO,
		Password: broker.NewPassword(password), SSLMode: sslMode, ExpiresAt: time.Now().Add(time.Hour),
		GrantID: "3f1c2b7e-8a4d-4f5e-9b6a-1c2d3e4f5a6b", IncidentID: "INC-32", Status: broker.SecretActive}
	s, err := v.SecretString()
	if err != nil {
		t.Fatal(err)
	}
	_, err = sm.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{SecretId: aws.String(name), SecretString: aws.String(s)})
	var missing *smtypes.ResourceNotFoundException
	if errors.As(err, &missing) {
		_, err = sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(s)})
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestConnectRefusesAServerThatAsksForThePasswordInClear points the secret at a
// server that is not the cluster (its certificate signed by the CA connect trusts)
// and asks for the password in clear: with channel binding (libpq 13+, over TLS) or
// require_auth (libpq 16+), psql refuses before it sends the password. Without
// either, connect says so, and the warning is true: the password goes.
func TestConnectRefusesAServerThatAsksForThePasswordInClear(t *testing.T) {
	f := setup(t, "cbind")
	dir := t.TempDir()
	caFile, cert := testCA(t, dir, "127.0.0.2")
	const password = "cleartext-probe-password-0123456789abcdef"
	tests := []struct {
		name    string
		tls     bool
		sslMode string
		ldPath  func(t *testing.T) string
		want    string // on stderr
		sent    bool   // the password reaches the server
	}{
		{name: "TLS, channel binding", tls: true, sslMode: "verify-full",
			want: "channel binding required but not supported by server's authentication request"},
		{name: "no TLS, require_auth of libpq 16+", sslMode: "disable", ldPath: libpq16,
			want: `authentication method requirement "scram-sha-256" failed: server requested a cleartext password`},
		{name: "no TLS, libpq 15", sslMode: "disable", sent: true,
			want: "ffbroker: warning: this psql's libpq cannot refuse a server that asks for the password in clear"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ld := ""
			if tt.ldPath != nil {
				ld = tt.ldPath(t)
			}
			var c *tls.Certificate
			if tt.tls {
				c = &cert
			}
			fake := startFakePostgres(t, "127.0.0.2", 0, c)
			putSecret(t, f, fake.host, fake.port, tt.sslMode, password)
			rec := t.TempDir()
			code, out, errOut := ffb(t, "connect", "--role", "ro", "--ca-file", caFile, "--psql", recordingPsql(t, rec, ld),
				"--", "-X", "-A", "-t", "-c", "SELECT 1")
			conns, _, startup, got := fake.seen()
			if code != exitFailed || out != "" || !strings.Contains(errOut, tt.want) || !strings.Contains(errOut, "psql exited with 2") {
				t.Errorf("connect to a server asking for the password in clear = exit %d, stdout %q\nstderr %s\nwant exit 1, %q and psql exited with 2",
					code, out, errOut, tt.want)
			}
			if conns == 0 || !startup {
				t.Errorf("the server got %d connection(s), startup %t; want psql to have reached it", conns, startup)
			}
			if sent := got == password; sent != tt.sent || (!tt.sent && got != "") {
				t.Errorf("the server received the password: %t (%d bytes in a PasswordMessage); want %t", sent, len(got), tt.sent)
			}
		})
	}
}

func TestConnInfoQuotesWhatLibpqWouldSplit(t *testing.T) {
	tests := []struct{ value, want string }{
		{"127.0.0.1", "k=127.0.0.1"},
		{"", "k=''"},
		{"ffbroker-connect INC-1", "k='ffbroker-connect INC-1'"},
		{`it's`, `k='it\'s'`},
		{`a\b`, `k='a\\b'`},
		{"a=b", "k=a=b"},
	}
	for _, tt := range tests {
		if got := (connInfo{{"k", tt.value}}).String(); got != tt.want {
			t.Errorf("connInfo{k: %q}.String() = %s; want %s", tt.value, got, tt.want)
		}
	}
}

func TestConnectRefusesASecondDoubleDash(t *testing.T) {
	checkRun(t, []string{"connect", "--role", "ro", "--", "-c", "SELECT 1", "--", "dbname=other"}, exitUsage, "",
		"psql's arguments (after --) may not hold another --")
}
