package pgtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// testCA is a throwaway certificate authority: ECDSA P-256, valid for a day.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(name string) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	tmpl := certTemplate(name)
	tmpl.IsCA = true
	tmpl.BasicConstraintsValid = true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	return &testCA{cert: cert, key: key, pem: pemBlock("CERTIFICATE", der)}, nil
}

// issue returns a server certificate and its key, both PEM, for hosts: each one
// an IP address or a DNS name.
func (ca *testCA) issue(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	tmpl := certTemplate("pgtest server")
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pgtest: %w", err)
	}
	return pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER), nil
}

func certTemplate(commonName string) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"ffbroker pgtest"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// enableTLS writes a test CA, a server certificate for localhost and 127.0.0.1
// signed by it, and a second CA that signed nothing, and returns the server
// settings that turn TLS on.
func (c *Cluster) enableTLS() (map[string]string, error) {
	ca, err := newTestCA("pgtest CA")
	if err != nil {
		return nil, err
	}
	wrong, err := newTestCA("pgtest wrong CA")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.issue("localhost", c.Host)
	if err != nil {
		return nil, err
	}
	c.ca = ca
	c.CAFile = filepath.Join(c.dir, "ca.crt")
	c.WrongCAFile = filepath.Join(c.dir, "wrong-ca.crt")
	certFile := filepath.Join(c.dir, "server.crt")
	keyFile := filepath.Join(c.dir, "server.key")
	// The server refuses a key that others can read or that it does not own.
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{c.CAFile, ca.pem, 0o644},
		{c.WrongCAFile, wrong.pem, 0o644},
		{certFile, certPEM, 0o644},
		{keyFile, keyPEM, 0o600},
	} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("pgtest: %w", err)
		}
		if err := c.chown(f.path); err != nil {
			return nil, err
		}
	}
	return map[string]string{
		"ssl":           "on",
		"ssl_cert_file": quoteLiteral(certFile),
		"ssl_key_file":  quoteLiteral(keyFile),
	}, nil
}

// IssueServerCert returns a certificate for hosts (DNS names or IP addresses)
// signed by the cluster's CA, the one in CAFile, for fake servers in tests. It
// fails when the cluster was started without Options.TLS.
func (c *Cluster) IssueServerCert(hosts ...string) (tls.Certificate, error) {
	if c.ca == nil {
		return tls.Certificate{}, fmt.Errorf("pgtest: cluster started without Options.TLS")
	}
	certPEM, keyPEM, err := c.ca.issue(hosts...)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}
